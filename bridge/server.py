"""Serving the app with uvicorn, tuned for WebSocket fan-out."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import uvicorn
from uvicorn.config import HTTP_PROTOCOLS, WS_PROTOCOLS
from uvicorn.importer import import_from_string

from bridge.app import create_app
from bridge.core.gcpolicy import freeze_after_start
from bridge.core.sockets import SocketLedger, guarded_protocols
from bridge.drain import DrainingServer
from bridge.settings import BridgeSettings

logger = logging.getLogger(__name__)

HARD_FRAME_CAP = 1024 * 1024


def trusted_proxies() -> frozenset[str]:
    """The addresses uvicorn trusts for X-Forwarded-For, when the operator set them.

    Behind such a proxy every socket has the proxy's address, so the per-IP socket cap would
    count all its clients as one; admission still counts each forwarded client address.
    """
    listed = os.environ.get("FORWARDED_ALLOW_IPS", "")
    return frozenset(ip.strip() for ip in listed.split(",") if ip.strip())


def uvicorn_config(settings: BridgeSettings) -> uvicorn.Config:
    app = create_app(settings)
    ledger = SocketLedger(
        max_per_ip=settings.max_connections_per_ip,
        handshake_timeout_s=settings.handshake_timeout_s,
        close_timeout_s=settings.close_timeout_s,
        send_buffer_bytes=settings.send_buffer_bytes,
        proxies=trusted_proxies(),
    )
    app.state.sockets = ledger  # drain aborts what is left; metrics and tests read it
    http, ws = guarded_protocols(
        import_from_string(HTTP_PROTOCOLS["auto"]),
        import_from_string(WS_PROTOCOLS[settings.ws_impl]),
        ledger,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop=settings.event_loop,
        http=http,
        ws=ws,
        ws_per_message_deflate=settings.ws_compression,
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


async def serve(settings: BridgeSettings, sockets: list[socket.socket] | None = None) -> None:
    """Serve until stopped (draining on SIGTERM); ``sockets`` are pre-bound listeners."""
    loop = asyncio.get_running_loop()
    logger.info("event loop: %s.%s", type(loop).__module__, type(loop).__qualname__)
    server = DrainingServer(uvicorn_config(settings))
    settle = asyncio.create_task(freeze_after_start(server)) if settings.gc_tuning else None
    await server.serve(sockets=sockets)
    if settle is not None:
        settle.cancel()
