"""The bridge's error hierarchy: each carries the stable code a client sees."""

from __future__ import annotations

from schemas import ErrorCode


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class RequestError(BridgeError):
    """A client request that cannot be served; becomes an ``error`` frame."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        suggestions: list[str] | None = None,
        limit: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.suggestions = suggestions
        self.limit = limit


class SlowConsumerError(BridgeError):
    """A connection's queue overflowed with messages that may not be conflated."""


class PolicyViolationError(BridgeError):
    """The client broke a framing rule; the connection closes with 1008."""
