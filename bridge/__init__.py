"""The mdbridge WebSocket bridge: a Starlette app over shared NATS JetStream interest."""

from __future__ import annotations

from bridge.app import create_app
from bridge.embed import bridge_lifespan
from bridge.server import serve, uvicorn_config
from bridge.settings import BridgeSettings

__all__ = ["BridgeSettings", "bridge_lifespan", "create_app", "serve", "uvicorn_config"]
