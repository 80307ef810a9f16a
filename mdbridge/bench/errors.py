"""The benchmark's errors: one hierarchy, raised at the edge and reported, never swallowed."""

from __future__ import annotations


class BenchError(RuntimeError):
    """The benchmark could not run a scenario (a process did not start, a peer refused)."""


class HandshakeError(BenchError):
    """A load-generator connection failed its WebSocket handshake."""


class ChildError(BenchError):
    """A worker or publisher process exited or reported an error."""
