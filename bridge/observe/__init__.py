"""Seeing the bridge run: metrics, control-path tracing, the monitor and alerts, access logs,
probes.
"""
