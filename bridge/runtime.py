"""What the Starlette lifespan owns: the NATS connection and everything built on it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bridge.core import natsclient
from bridge.core.frames import status_frame
from bridge.core.hub import Hub
from bridge.core.jswatch import JetStreamWatch
from bridge.core.outbox import Flusher
from bridge.errors import BridgeError
from bridge.market.directory import SymbolDirectory
from bridge.market.sources import SourceHealth
from bridge.market.statusboard import StatusBoard
from bridge.market.symbolstatus import SymbolStatusForwarder
from bridge.recovery.ackmode import AckConsumers
from bridge.recovery.barhistory import BarHistory
from bridge.recovery.catchup import Replayer
from bridge.recovery.reliability import Reliability
from bridge.settings import BridgeSettings
from bridge.ws.connections import Connections
from processkit.distribution import distribution_version
from processkit.failover import move_off, server_of
from schemas import STREAM_BY_TYPE, SYMBOLS_BUCKET, StatusEvent
from schemas.timefmt import epoch_ms_to_iso

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
    status_board: StatusBoard  # the one reader of md.status.>: sources and data quality
    draining: bool = False
    nats_reconnects: int = field(default=0)
    owns_nc: bool = True  # False when a host app lent its connection (bridge/embed.py)
    symbol_status: SymbolStatusForwarder | None = None
    broker_down_since: float | None = None  # when NATS was lost (epoch s), until it is back
    jetstream_watch: JetStreamWatch | None = None
    flusher: Flusher = field(default_factory=Flusher)  # direct writes after each fan-out

    @property
    def ready(self) -> bool:
        return self.nc.is_connected and not self.draining and not self.hub.feed_failure()

    async def unready_reason(self) -> str:
        """Why this bridge cannot serve a new subscriber now; "" when it can (``/readyz``)."""
        if self.draining:
            return "draining"
        if not self.nc.is_connected:
            return "not connected to NATS"
        failure = self.hub.feed_failure()
        if failure:
            return failure
        try:
            return await self.hub.room_failure()
        except (NatsError, TimeoutError) as exc:
            return f"JetStream did not answer: {exc!r}"

    @classmethod
    async def start(cls, settings: BridgeSettings, host_nc: NatsClient | None = None) -> Runtime:
        """Connect (or use the host's connection) and build everything on it."""
        holder: dict[str, Runtime] = {}

        async def on_reconnect() -> None:
            logger.warning("reconnected to NATS at %s", server_of(nc))
            if "rt" in holder:
                holder["rt"].nats_reconnects += 1
                holder["rt"].broker_back()
                holder["rt"].resume_interest()

        async def on_disconnect() -> None:
            if nc.is_closed:  # our own drain or close at shutdown: nothing went wrong
                logger.info("NATS connection closed")
                return
            logger.warning("disconnected from NATS")
            if "rt" in holder:
                holder["rt"].broker_lost()

        async def on_lame_duck() -> None:
            # The server is about to go (a rolling upgrade): move to a peer now, while this
            # one still answers, rather than be cut off later. Alone, stay until it closes.
            if len(nc.servers) > 1:
                logger.warning("NATS server %s entered lame-duck mode: moving", server_of(nc))
                await move_off(nc)

        async def on_error(exc: Exception) -> None:
            logger.warning("NATS error: %r", exc)

        nc = host_nc or await natsclient.connect(
            **settings.nats_connect_kwargs(),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            reconnected_cb=on_reconnect,
            disconnected_cb=on_disconnect,
            lame_duck_mode_cb=on_lame_duck,
            ping_interval=settings.nats_ping_interval_s,
            max_outstanding_pings=settings.nats_max_outstanding_pings,
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
        # One follower of md.status.>: the board, whose listeners hear every source status.
        status_board = StatusBoard(js, settings.source_timeout_s)
        sources = SourceHealth(status_board, lambda: connections, settings.source_timeout_s)
        await status_board.start()
        sources.start()
        reliability = Reliability(
            replayer=Replayer(nc, js, hub, settings),
            acks=AckConsumers(nc, js, settings),
            sources=sources,
            history=BarHistory(nc, js, hub, settings),
        )
        runtime = cls(
            settings,
            nc,
            js,
            hub,
            directory,
            connections,
            reliability,
            status_board,
            owns_nc=host_nc is None,
            flusher=Flusher(settings.write_linger_ms / 1000, settings.write_pace_max_ms / 1000),
        )
        holder["rt"] = runtime
        if host_nc is None:  # a lent connection is its host's to move
            runtime.jetstream_watch = JetStreamWatch(
                nc, settings.jetstream_probe_interval_s, settings.jetstream_probe_failures
            )
            runtime.jetstream_watch.start()
        runtime.symbol_status = SymbolStatusForwarder(js, connections)
        await runtime.symbol_status.start()
        logger.info("bridge connected to NATS at %s", server_of(nc))
        return runtime

    def broker_lost(self) -> None:
        """Tell every connection that data pauses; nothing is lost (resume_interest)."""
        if self.broker_down_since is not None or self.draining:
            return
        self.broker_down_since = time.time()
        self.connections.broadcast(
            status_frame(
                StatusEvent.BROKER_DOWN,
                since=epoch_ms_to_iso(self.broker_down_since * 1000),
                reason="the bridge lost its connection to NATS; data resumes without a gap",
            )
        )

    def broker_back(self) -> None:
        if self.broker_down_since is None:
            return
        down_ms = round((time.time() - self.broker_down_since) * 1000)
        self.broker_down_since = None
        self.connections.broadcast(status_frame(StatusEvent.BROKER_UP, down_ms=down_ms))

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
        if self.jetstream_watch is not None:
            await self.jetstream_watch.close()
        if self.symbol_status is not None:
            await self.symbol_status.close()
        await self.connections.close()
        self.reliability.acks.close()
        await self.reliability.sources.close()
        await self.status_board.close()
        await self.hub.close()
        await self.directory.close()
        if self.owns_nc and not self.nc.is_closed and not self.nc.is_draining:
            try:
                await self.nc.drain()
            except NatsError as exc:  # the server went first (reconnecting): nothing to flush
                logger.warning("nats drain at shutdown failed: %r; closing", exc)
                await self.nc.close()
