"""The admin API under ``/admin`` and the Prometheus scrape at ``/metrics``.

Every admin endpoint goes through :func:`authorize`, the single place where access is decided:
with auth on, the same tokens as ``/ws`` and a token with the ``admin`` scope; with auth off
(the bridge then listens on loopback unless forced), loopback clients only, so a bridge
exposed with ``allow_insecure_bind`` still keeps its admin API to itself. Before that,
:mod:`bridge.admin.guard` refuses foreign ``Host`` and ``Origin`` headers and state changes
a cross-site page could send without a preflight.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route

from bridge.access.http import authenticate_request
from bridge.access.policy import Access, is_loopback
from bridge.access.principal import Scope
from bridge.admin.guard import refusal
from bridge.admin.views import status_view, subscriptions_view, top_symbols
from bridge.errors import AccessDeniedError
from bridge.observe.observability import Observability
from bridge.rest.problems import from_denied, problem
from schemas import CloseCode, DataType, ErrorCode

Handler = Callable[[Request, Observability], Awaitable[Response]]

MAX_LIST = 1000
MAX_BODY = 1024
MAX_REASON = 120
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def _error(request: Request, code: ErrorCode, message: str) -> Response:
    """The REST API's shape (RFC 9457 problem details) for every admin error too."""
    return problem(request, code, message)


async def authorize(request: Request) -> Response | None:
    """None when the request may use the admin API, else the response refusing it."""
    access: Access | None = getattr(request.app.state, "access", None)
    if access is not None and access.auth_enabled:
        try:
            await authenticate_request(request, Scope.ADMIN)
        except AccessDeniedError as denied:
            return from_denied(request, denied)
        return None
    client = request.client
    if client is not None and is_loopback(client.host):
        return None
    return _error(request, ErrorCode.FORBIDDEN, "with auth off the admin API answers loopback only")


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ValueError(f"'{name}' must be an integer between 1 and {high}")
    return int(raw)


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        access: Access | None = getattr(request.app.state, "access", None)
        reason = refusal(request, access) if access is not None else None
        if reason is not None:
            return _error(request, ErrorCode.FORBIDDEN, reason)
        refused = await authorize(request)
        if refused is not None:
            return refused
        obs: Observability | None = getattr(request.app.state, "observability", None)
        if obs is None:
            return _error(request, ErrorCode.UNAVAILABLE, "starting or stopping")
        try:
            return await handler(request, obs)
        except ValueError as exc:
            return _error(request, ErrorCode.BAD_REQUEST, str(exc))

    return endpoint


async def metrics(request: Request) -> Response:
    obs: Observability | None = getattr(request.app.state, "observability", None)
    if obs is None:
        return Response("", status_code=503)
    return Response(obs.metrics.render(), media_type=PROMETHEUS_TEXT)


async def status(request: Request, obs: Observability) -> Response:
    return _Json(status_view(obs))


async def connections(request: Request, obs: Observability) -> Response:
    limit = _int_param(request, "limit", 100, MAX_LIST)
    infos = obs.connections.infos()
    rows = [info.summary() for info in infos[:limit]]
    return _Json({"total": len(infos), "connections": rows})


async def connection(request: Request, obs: Observability) -> Response:
    info = obs.connections.get(request.path_params["connection_id"])
    if info is None:
        return _error(request, ErrorCode.UNKNOWN_CONNECTION, "no such connection")
    return _Json(info.detail())


async def disconnect(request: Request, obs: Observability) -> Response:
    connection_id = request.path_params["connection_id"]
    raw_code = request.query_params.get("code", str(CloseCode.NORMAL.value))
    if not raw_code.isdigit() or int(raw_code) not in CloseCode._value2member_map_:
        allowed = ", ".join(str(c.value) for c in CloseCode)
        raise ValueError(f"'code' must be one of {allowed}")
    reason = request.query_params.get("reason", "closed by an administrator")
    reason = "".join(ch for ch in reason if ch.isprintable())
    reason = reason.encode()[:MAX_REASON].decode(errors="ignore")
    if not await obs.disconnect(connection_id, int(raw_code), reason):
        return _error(request, ErrorCode.UNKNOWN_CONNECTION, "no such connection")
    return _Json({"closed": connection_id, "code": int(raw_code), "reason": reason})


async def trace(request: Request, obs: Observability) -> Response:
    info = obs.connections.get(request.path_params["connection_id"])
    if info is None:
        return _error(request, ErrorCode.UNKNOWN_CONNECTION, "no such connection")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ValueError("body too large")
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise ValueError('body must be JSON like {"enabled": true}') from None
    enabled = data.get("enabled", True) if isinstance(data, dict) else None
    if not isinstance(enabled, bool):
        raise ValueError("'enabled' must be true or false")
    info.probe.set_trace(enabled)
    return _Json({"connection_id": info.id, "traced": enabled})


async def subscriptions(request: Request, obs: Observability) -> Response:
    data_type = request.query_params.get("data_type")
    if data_type is not None and data_type not in DataType._value2member_map_:
        raise ValueError("'data_type' must be one of " + ", ".join(t.value for t in DataType))
    limit = _int_param(request, "limit", 200, 5000)
    view = subscriptions_view(obs, request.query_params.get("symbol"), data_type, limit)
    return _Json(view)


async def quality(request: Request, obs: Observability) -> Response:
    return _Json(obs.status.quality())


async def alerts(request: Request, obs: Observability) -> Response:
    return _Json(obs.alerts.view())


async def traces(request: Request, obs: Observability) -> Response:
    limit = _int_param(request, "limit", 100, 256)
    return _Json({"spans": obs.tracing.recent.rows(limit)})


async def stats(request: Request, obs: Observability) -> Response:
    """Everything the dashboard draws, in one poll."""
    return _Json(
        {
            "now_ms": round(time.time() * 1000),
            "interval_s": obs.monitor.interval_s,
            "window_s": obs.monitor.window_s,
            "history": list(obs.monitor.history),
            "top_symbols": top_symbols(obs, 10),
            "sources": obs.status.sources(),
            "quality": obs.status.quality(),
            "alerts": obs.alerts.view(),
            "connections": [info.summary() for info in obs.connections.infos()[:20]],
        }
    )


ADMIN_ENDPOINTS: list[Route] = [
    Route("/status", _endpoint(status)),
    Route("/stats", _endpoint(stats)),
    Route("/connections", _endpoint(connections)),
    Route("/connections/{connection_id}", _endpoint(connection)),
    Route("/connections/{connection_id}", _endpoint(disconnect), methods=["DELETE"]),
    Route("/connections/{connection_id}/trace", _endpoint(trace), methods=["POST"]),
    Route("/subscriptions", _endpoint(subscriptions)),
    Route("/quality", _endpoint(quality)),
    Route("/alerts", _endpoint(alerts)),
    Route("/traces", _endpoint(traces)),
]
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def unrouted(request: Request) -> Response:
    """An unknown admin path (404) or method (405), in the same problem+json shape."""
    allowed: set[str] = set()
    for route in ADMIN_ENDPOINTS:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:  # the path exists, with other methods
            allowed |= route.methods or set()
    if allowed:
        return problem(
            request,
            ErrorCode.BAD_REQUEST,
            f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}",
            headers={"Allow": ", ".join(sorted(allowed))},
            status=405,
        )
    return problem(request, ErrorCode.NOT_FOUND, "no such admin endpoint")


ADMIN_ROUTES: list[BaseRoute] = [
    Route("/metrics", metrics),
    # last: what no endpoint serves gets the admin API's one error shape too
    Mount("/admin", routes=[*ADMIN_ENDPOINTS, Route("/{path:path}", unrouted, methods=ANY_METHOD)]),
]
