"""Nothing lost: resume from a sequence, ack-mode durable consumers, paced pulls into a
connection.
"""
