"""Serving the app with uvicorn, tuned for WebSocket fan-out."""

from __future__ import annotations

import uvicorn

from bridge.app import create_app
from bridge.drain import DrainingServer
from bridge.settings import BridgeSettings

HARD_FRAME_CAP = 1024 * 1024


def uvicorn_config(settings: BridgeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        ws=settings.ws_impl,
        # Frames between max_frame_bytes and this cap are refused by the app (1008);
        # above it the WebSocket layer refuses them itself (1009).
        ws_max_size=max(HARD_FRAME_CAP, settings.max_frame_bytes * 4),
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )


async def serve(settings: BridgeSettings) -> None:
    await DrainingServer(uvicorn_config(settings)).serve()
