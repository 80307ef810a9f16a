"""The hooks a session calls, wherever it is: control-path spans and resume results.

``bridge.observe.observability.watch`` binds the connection's telemetry into a context variable when
the WebSocket connects; the session's reader and writer tasks inherit it, so these functions
need no plumbing and cost nothing when nothing is watching (e.g. a Session in a unit test).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import Any, Protocol

from schemas import MessageType, logctx

# Requests that get a span; ping and ack are too frequent and too trivial to trace.
TRACED_REQUESTS = frozenset(
    {
        MessageType.AUTH,
        MessageType.SUBSCRIBE,
        MessageType.UNSUBSCRIBE,
        MessageType.MODIFY,
        MessageType.LIST_SUBSCRIPTIONS,
    }
)


class ConnectionTelemetry(Protocol):
    def span(  # must also scope the log context (``logctx.scope``)
        self, name: str, attributes: dict[str, Any]
    ) -> AbstractContextManager[Any]: ...

    def resume_result(self, recovered: bool) -> None: ...


CURRENT: ContextVar[ConnectionTelemetry | None] = ContextVar("mdbridge_connection", default=None)


def _request_attributes(type_: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = f"ws.{type_}"
    attributes: dict[str, Any] = {"mdbridge.request": type_}
    if type_ == MessageType.SUBSCRIBE:
        symbols = data.get("symbols")
        attributes["mdbridge.symbols"] = len(symbols) if isinstance(symbols, list) else 1
        attributes["mdbridge.data_type"] = str(data.get("data_type", "quote"))[:16]
        if data.get("resume_from") is not None:
            name = "ws.resume"
        if data.get("ack"):
            attributes["mdbridge.ack"] = True
    return name, attributes


def control_span(type_: str, data: dict[str, Any]) -> AbstractContextManager[Any]:
    """Around one client request: a span for control requests, and a log-context scope so
    fields bound while serving it (``subscription_id``) end with it."""
    if type_ not in TRACED_REQUESTS:
        return nullcontext()
    telemetry = CURRENT.get()
    if telemetry is None:
        return logctx.scope()
    name, attributes = _request_attributes(type_, data)
    return telemetry.span(name, attributes)  # also scopes the log context


def resume_result(recovered: bool) -> None:
    """Count one resume (``status recovered``) of the current connection, by its result."""
    telemetry = CURRENT.get()
    if telemetry is not None:
        telemetry.resume_result(recovered)
