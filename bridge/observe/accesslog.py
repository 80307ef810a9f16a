"""ASGI middleware: JSON access logs for REST requests, close codes for WebSockets.

For HTTP it logs one line per request (method, path, status, duration, client) after the
response; health probes, scrapes and the dashboard's polling log at DEBUG. For WebSockets it
notes the close code, whoever sent it (the server, the client, or nobody: 1006), including
connections refused before the handshake, and tells ``Observability`` when it is over.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.access.redact import REDACTED, is_secret_param, redact
from bridge.observe.observability import TRANSPORT_KEY, Observability

logger = logging.getLogger(__name__)

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/admin/stats"})
ABNORMAL_CLOSURE = 1006
INTERNAL_ERROR = 1011


def _safe_query(raw: bytes) -> str:
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return redact(urlencode([(k, REDACTED if is_secret_param(k) else v) for k, v in pairs]))


class AccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        response = {"status": 500, "bytes": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            client = scope.get("client")
            headers = dict(scope.get("headers") or [])
            level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
            status = response["status"]
            logger.log(
                level,
                "%s %s %d",
                scope.get("method", ""),
                path,
                status,
                extra={
                    "http": {
                        "method": scope.get("method", ""),
                        "path": path,
                        "query": _safe_query(scope.get("query_string", b"")),
                        "status": status,
                        "bytes": response["bytes"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                        "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:256],
                    }
                },
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The server's protocol object (uvicorn's) knows the keepalive ping round-trip time.
        scope[TRANSPORT_KEY] = getattr(receive, "__self__", None)
        codes: list[int | None] = [None, None]  # [sent by the server, sent by the client]

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                codes[1] = message.get("code", ABNORMAL_CLOSURE)
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "websocket.close" and codes[0] is None:
                codes[0] = message.get("code", 1000)
            await send(message)

        failed = False
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:
            failed = True
            raise
        finally:
            obs: Observability | None = getattr(scope["app"].state, "observability", None)
            if obs is not None:
                code = codes[0] or codes[1] or (INTERNAL_ERROR if failed else ABNORMAL_CLOSURE)
                obs.ended(scope, code)
