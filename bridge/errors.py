"""The bridge's error hierarchy: each carries the stable code a client sees."""

from __future__ import annotations

from pydantic import ValidationError

from schemas import CloseCode, ErrorCode


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
        request_id: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.suggestions = suggestions
        self.limit = limit
        self.request_id = request_id  # when known before the frame failed validation


class SlowConsumerError(BridgeError):
    """A connection's queue overflowed with messages that may not be conflated."""


class PolicyViolationError(BridgeError):
    """The client broke a framing rule; the connection closes with 1008."""


class AccessDeniedError(BridgeError):
    """A connection or request refused by access control: auth, permissions or admission.

    ``reason`` is short enough for a WebSocket close frame; ``message`` may say more.
    Neither ever contains a token or a key.
    """

    def __init__(
        self,
        close_code: CloseCode,
        code: ErrorCode,
        reason: str,
        message: str | None = None,
        *,
        http_status: int = 403,
        limit: tuple[str, int] | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.code = code
        self.reason = reason
        self.message = message or reason
        self.http_status = http_status
        self.limit = limit
        self.retry_after_ms = retry_after_ms
        self.request_id: str | int | None = None


class AuthError(AccessDeniedError):
    """A missing, malformed, expired or otherwise unacceptable token: close 4001, HTTP 401."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(
            CloseCode.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, reason, message, http_status=401
        )


class AccessConfigError(BridgeError):
    """Access-control settings that cannot work (no key with auth on, unreadable key file...)."""


class InsecureBindError(AccessConfigError):
    """Auth is off and the listen address is not loopback, without an explicit override."""


class AckModeError(BridgeError):
    """The durable consumer behind an ack-mode subscription could not be opened."""


class AckLimitError(AckModeError):
    """A durable quota is reached; ``limit`` names the setting and its value."""

    def __init__(self, message: str, limit: tuple[str, int]) -> None:
        super().__init__(message)
        self.limit = limit


def describe(exc: ValidationError) -> str:
    """``symbol: Field required; frequency: ...`` from a pydantic error, first few only."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "data"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
