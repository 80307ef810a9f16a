"""Running the bridge under a real uvicorn, in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from bridge import BridgeSettings, uvicorn_config
from bridge.drain import DrainingServer
from mdbridge.natsserver import free_port


@asynccontextmanager
async def running_bridge(
    nats_url: str, *, uvicorn_options: Any = None, **overrides: Any
) -> AsyncIterator[BridgeHandle]:
    settings = BridgeSettings(nats_url=nats_url, port=free_port(), **overrides)
    config = uvicorn_config(settings)
    for name, value in (uvicorn_options or {}).items():  # e.g. a short ws_ping_interval
        setattr(config, name, value)
    server = DrainingServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("bridge exited during start-up")
        await asyncio.sleep(0.02)
    app: Starlette = server.config.loaded_app
    while hasattr(app, "app"):  # unwrap uvicorn's middleware to reach Starlette
        app = app.app
    try:
        yield BridgeHandle(settings, server, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class BridgeHandle:
    def __init__(self, settings: BridgeSettings, server: uvicorn.Server, app: Starlette) -> None:
        self.settings = settings
        self.server = server
        self.app = app

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


@asynccontextmanager
async def serving_app(app: Any) -> AsyncIterator[str]:
    """Any ASGI app (a FastAPI host, say) under a real uvicorn; yields ``host:port``."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", ws="websockets-sansio", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the host app exited during start-up"
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
