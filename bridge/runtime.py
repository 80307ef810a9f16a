"""What the Starlette lifespan owns: the NATS connection and everything built on it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bridge.core import natsclient
from bridge.core.hub import Hub
from bridge.errors import BridgeError
from bridge.market.directory import SymbolDirectory
from bridge.market.sources import SourceHealth
from bridge.market.symbolstatus import SymbolStatusForwarder
from bridge.recovery.ackmode import AckConsumers
from bridge.recovery.catchup import Replayer
from bridge.recovery.reliability import Reliability
from bridge.settings import BridgeSettings
from bridge.ws.connections import Connections
from processkit.distribution import distribution_version
from schemas import STREAM_BY_TYPE, SYMBOLS_BUCKET

logger = logging.getLogger(__name__)

VERSION = distribution_version()  # written once, in pyproject.toml


async def _wait_for_streams(js: JetStreamContext, timeout_s: float) -> None:
    """Adapters provision the streams; a bridge that starts first waits for them."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    announced = False
    while True:
        try:
            for stream in STREAM_BY_TYPE.values():
                await js.stream_info(stream)
            await js.key_value(SYMBOLS_BUCKET)
            return
        except NotFoundError:
            if asyncio.get_running_loop().time() > deadline:
                raise BridgeError(
                    f"streams not provisioned after {timeout_s:.0f}s: start an adapter"
                ) from None
            if not announced:
                logger.warning("waiting for the market-data streams to be provisioned")
                announced = True
            await asyncio.sleep(0.5)


@dataclass
class Runtime:
    settings: BridgeSettings
    nc: NatsClient
    js: JetStreamContext
    hub: Hub
    directory: SymbolDirectory
    connections: Connections
    reliability: Reliability
    draining: bool = False
    nats_reconnects: int = field(default=0)
    owns_nc: bool = True  # False when a host app lent its connection (bridge/embed.py)
    symbol_status: SymbolStatusForwarder | None = None

    @property
    def ready(self) -> bool:
        return self.nc.is_connected and not self.draining

    @classmethod
    async def start(cls, settings: BridgeSettings, host_nc: NatsClient | None = None) -> Runtime:
        """Connect (or use the host's connection) and build everything on it."""
        holder: dict[str, Runtime] = {}

        async def on_reconnect() -> None:
            logger.warning("reconnected to NATS at %s", nc.connected_url)
            if "rt" in holder:
                holder["rt"].nats_reconnects += 1
                holder["rt"].resume_interest()

        async def on_disconnect() -> None:
            logger.warning("disconnected from NATS")

        async def on_error(exc: Exception) -> None:
            logger.warning("NATS error: %r", exc)

        nc = host_nc or await natsclient.connect(
            **settings.nats_connect_kwargs(),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            reconnected_cb=on_reconnect,
            disconnected_cb=on_disconnect,
            error_cb=on_error,
            drain_timeout=settings.shutdown_grace_s,
        )
        js = nc.jetstream()
        await _wait_for_streams(js, settings.startup_timeout_s)
        hub = Hub(js, settings)
        await hub.start()
        directory = SymbolDirectory()
        await directory.start(js)
        connections = Connections(settings.heartbeat_interval_s, settings.send_timeout_s)
        connections.start()
        sources = SourceHealth(js, lambda: connections, settings.source_timeout_s)
        await sources.start()
        reliability = Reliability(
            replayer=Replayer(nc, js, hub, settings),
            acks=AckConsumers(nc, js, settings),
            sources=sources,
        )
        runtime = cls(
            settings, nc, js, hub, directory, connections, reliability, owns_nc=host_nc is None
        )
        holder["rt"] = runtime
        runtime.symbol_status = SymbolStatusForwarder(js, connections)
        await runtime.symbol_status.start()
        logger.info("bridge connected to NATS at %s", nc.connected_url)
        return runtime

    def resume_interest(self) -> None:
        """After a NATS reconnect, pick up from the last processed sequences at once.

        nats-py would notice the lost consumers itself after missed heartbeats; restarting
        them now shortens the outage clients see (they still see no gap either way).
        """
        task = asyncio.create_task(self.hub.restart_feeds())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.reliability.acks.kick()

    async def stop(self) -> None:
        """Release everything; safe after :func:`bridge.drain.drain` has run."""
        if self.symbol_status is not None:
            await self.symbol_status.close()
        await self.connections.close()
        self.reliability.acks.close()
        await self.reliability.sources.close()
        await self.hub.close()
        await self.directory.close()
        if self.owns_nc and not self.nc.is_closed and not self.nc.is_draining:
            await self.nc.drain()
