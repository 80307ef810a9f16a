"""One WebSocket connection: its session, the guarantees it offers, its gate, frame parsing, the
live set.
"""
