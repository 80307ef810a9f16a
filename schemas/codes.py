"""Stable error codes and WebSocket close codes: the one place they are named."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """`error.data.code` values; clients switch on these, so they never change meaning."""

    BAD_REQUEST = "BAD_REQUEST"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    UNKNOWN_SUBSCRIPTION = "UNKNOWN_SUBSCRIPTION"
    UNKNOWN_CONNECTION = "UNKNOWN_CONNECTION"  # admin API: no such connection (any more)
    SUBSCRIPTION_LIMIT = "SUBSCRIPTION_LIMIT"
    DURABLE_LIMIT = "DURABLE_LIMIT"  # ack mode: a quota of durable consumers is reached
    RATE_LIMITED = "RATE_LIMITED"
    CONNECTION_LIMIT = "CONNECTION_LIMIT"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    UNSUPPORTED = "UNSUPPORTED"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    NOT_FOUND = "NOT_FOUND"  # REST: no such resource, or nothing published for it yet


class CloseCode(IntEnum):
    """WebSocket close codes of PROTOCOL.md."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4001
    FORBIDDEN = 4003
    RATE_LIMITED = 4008
    SLOW_CONSUMER = 4009
