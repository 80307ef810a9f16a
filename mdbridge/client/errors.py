"""Errors the client raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mdbridge.client.messages import ErrorMessage


class ClientError(Exception):
    """Base of every error this client raises on purpose."""


class NotConnectedError(ClientError):
    """No connection to any bridge within the time allowed."""


class ConnectionLostError(ClientError):
    """The connection ended while a request was waiting for its reply."""


class RequestError(ClientError):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, code: str, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data or {}


class RefusedError(ClientError):
    """The server refused the connection (auth, or limits: it may say when to retry)."""

    def __init__(self, message: ErrorMessage) -> None:
        super().__init__(f"{message.code}: {message.message}")
        self.code = message.code
        self.message = message
