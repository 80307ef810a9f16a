"""The fan-out core: one NATS client, shared stream feeds, channels that encode once, bounded
outboxes.
"""
