"""Log context: fields every log line of the current task carries (contextvars, no I/O).

The bridge binds ``connection_id`` when a WebSocket connects and ``trace_id`` /
``subscription_id`` while it serves a request; tasks created afterwards inherit them, so a
plain ``logger.info(...)`` inside a session is attributed without passing ``extra=``.
The log handler's ``ContextFilter`` (``mdbridge.logs``) copies them onto each record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

# The fields a log line may carry from context (or from ``extra=``), in output order.
CONTEXT_FIELDS = ("connection_id", "subscription_id", "trace_id", "source", "symbol")

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_CONTEXT: ContextVar[MappingProxyType[str, Any]] = ContextVar(
    "mdbridge_log_context", default=_EMPTY
)


def current() -> MappingProxyType[str, Any]:
    """The fields bound in this context (read-only)."""
    return _CONTEXT.get()


def update(**fields: Any) -> None:
    """Bind fields for the rest of this context (a task, or until an enclosing scope ends)."""
    _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **fields}))


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Bind fields inside the block; anything bound within it is undone at its end."""
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **fields}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)
