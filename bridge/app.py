"""The Starlette application: ``create_app()`` is all a host needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from bridge.access.http import ROUTES as AUTH_ROUTES
from bridge.access.http import cors_middleware
from bridge.access.policy import Access
from bridge.admin.routes import ADMIN_ROUTES
from bridge.endpoint import websocket_endpoint
from bridge.observe.accesslog import AccessMiddleware
from bridge.observe.observability import Observability
from bridge.pages.routes import PAGE_ROUTES
from bridge.rest.routes import API_ROUTES
from bridge.runtime import Runtime
from bridge.settings import BridgeSettings


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    reason = "starting" if runtime is None else await runtime.unready_reason()
    ready = not reason
    body = {
        "ready": ready,
        "reason": reason or None,
        "nats": bool(runtime and runtime.nc.is_connected),
        "draining": bool(runtime and runtime.draining),
        "symbols": len(runtime.directory) if runtime else 0,
        "connections": len(runtime.connections) if runtime else 0,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def create_app(settings: BridgeSettings | None = None) -> Starlette:
    settings = settings or BridgeSettings()
    access = Access(settings)  # refuses an unsafe bind or unusable keys before anything starts

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, getattr(app.state, "host_nats", None))
        app.state.runtime = runtime
        observability = await Observability.start(runtime, settings)
        app.state.observability = observability
        try:
            yield
        finally:
            await observability.stop()
            await runtime.stop()

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", websocket_endpoint),
            WebSocketRoute("/v1/ws", websocket_endpoint),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *AUTH_ROUTES,
            *ADMIN_ROUTES,
            *PAGE_ROUTES,
            *API_ROUTES,
        ],
        middleware=[Middleware(AccessMiddleware), *cors_middleware(settings)],
        lifespan=lifespan,
    )
    app.state.access = access
    return app
