"""The adapter runtime: connect to NATS, provision the streams, run one adapter, shut down."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from processkit.backoff import Backoff
from processkit.distribution import DISTRIBUTION
from processkit.failover import move_off, server_of
from processkit.natsconf import NatsOptions
from schemas import logctx
from services.adapter import Adapter, AdapterFactory
from services.errors import (
    MissingExtraError,
    ProvisioningError,
    SourceError,
    UnknownAdapterError,
)
from services.holidays import calendar_bucket, publish_default_calendar
from services.provision import StreamPolicy, ensure_streams
from services.publisher import Publisher
from services.settings import AdapterSettings
from services.status import StatusReporter

if TYPE_CHECKING:
    from services.metrics import AdapterMetrics

logger = logging.getLogger(__name__)

# name -> "module:attribute". Imported only when picked, so a vendor SDK (xtquant) is never
# needed by the other adapters, on Linux or in CI.
ADAPTERS: Mapping[str, str] = MappingProxyType(
    {
        "sim": "services.sim.adapter:SimAdapter",
        "xtquant": "services.xtquant.adapter:XtQuantAdapter",
        "replay": "services.replay:ReplayAdapter",
    }
)

RECONNECT_WAIT_S = 1.0
STOP_GRACE_S = 5.0  # how long a stopped adapter may take to return before it is cancelled
FLUSH_TIMEOUT_S = 2.0  # acks normally take milliseconds; lost ones (server died) never come
FAILOVER_AFTER_S = 6.0  # publishes failing this long through one server: try another
PING_INTERVAL_S = 10  # a dead server is noticed within ~30 s (three missed pings)
# Reconnecting to a failed source (docs/protocol.md, "Data sources"): three tries, then the
# adapter gives up (exit 1: a missing SDK, a source gone for good; a supervisor may restart it).
SOURCE_BACKOFF = Backoff(base_s=1.0, cap_s=4.0, jitter=False)  # 1 s, 2 s, 4 s
SOURCE_RETRIES = 3


def load_adapter(name: str) -> AdapterFactory:
    """The adapter factory registered under ``name``, imported now."""
    try:
        target = ADAPTERS[name]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise UnknownAdapterError(f"unknown adapter {name!r}; known adapters: {known}") from None
    module_name, _, attribute = target.partition(":")
    return cast(AdapterFactory, getattr(importlib.import_module(module_name), attribute))


def _server(client: Client | None) -> str:
    return server_of(client) if client is not None else "?"


async def connect(
    settings: NatsOptions, stop: asyncio.Event, *, reconnected: asyncio.Event | None = None
) -> Client | None:
    """Connect, retrying forever (until ``stop``: then None); reconnects forever afterwards.

    ``reconnected`` is set after each reconnect, for whoever must redo per-server setup.
    """
    client: Client | None = None

    async def on_error(exc: Exception) -> None:
        logger.warning("nats: %r", exc)

    async def on_disconnected() -> None:
        if client is not None and client.is_closed:  # our own drain at the end: no fault
            return
        logger.warning("nats disconnected")

    async def on_reconnected() -> None:
        logger.info("nats reconnected to %s", _server(client))
        if reconnected is not None:
            reconnected.set()

    async def on_closed() -> None:
        logger.info("nats connection closed")

    async def on_lame_duck() -> None:
        # The server is going away (a rolling upgrade): move to a peer while it still answers.
        if client is not None and len(client.servers) > 1:
            logger.warning("nats server %s entered lame-duck mode: moving", server_of(client))
            await move_off(client)

    connecting = asyncio.ensure_future(
        nats.connect(
            **settings.nats_connect_kwargs(),
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            closed_cb=on_closed,
            lame_duck_mode_cb=on_lame_duck,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            ping_interval=PING_INTERVAL_S,
        )
    )
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, NatsError):
            await connecting
        return None
    client = connecting.result()  # raises what connect raised (auth, TLS)
    logger.info("connected to nats %s", _server(client))
    return client


async def run_adapter(name: str, settings: AdapterSettings, stop: asyncio.Event) -> None:
    """Run adapter ``name`` until ``stop`` is set or it finishes; raises what it raises.

    On the way out: flush what is in flight, publish the ``down`` status, drain NATS.
    """
    adapter: Adapter = load_adapter(name)(settings)  # fail fast, before touching the network
    logctx.update(source=adapter.source_id)  # every log line of this adapter says which
    reconnected = asyncio.Event()
    client = await connect(settings, stop, reconnected=reconnected)
    if client is None:
        return
    try:
        js = client.jetstream()
        policy = settings.stream_policy()
        await ensure_streams(js, policy)
        calendar = await calendar_bucket(js, policy.storage, policy.replicas)
        await publish_default_calendar(calendar, settings.holidays)  # xtquant's may replace it
        publisher = Publisher(js, max_in_flight=settings.publish_max_in_flight)
        metrics = _start_metrics(settings, publisher, adapter.source_id)
        status = StatusReporter(js, publisher, adapter, interval_s=settings.status_interval_s)
        helpers = [
            asyncio.create_task(status.run(stop), name=f"{name}-status"),
            asyncio.create_task(_reprovision(js, policy, reconnected), name=f"{name}-provision"),
            asyncio.create_task(_leave_failing_server(client, publisher), name=f"{name}-failover"),
        ]
        try:
            logger.info("adapter %s (source %s) starting", name, adapter.source_id)
            await run_source(adapter, js, publisher, stop, status, name)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await publisher.flush(timeout=FLUSH_TIMEOUT_S)
            await status.down()
            if metrics is not None:
                await asyncio.to_thread(metrics.close)  # a final OTLP export may block
            logger.info(
                "adapter %s stopped: %d published, %d duplicates, %d failed",
                name,
                publisher.published,
                publisher.duplicates,
                publisher.failed,
            )
    finally:
        with contextlib.suppress(NatsError):
            await client.drain()


async def _leave_failing_server(client: Client, publisher: Publisher) -> None:
    """Move to another server when every publish through this one has failed for a while.

    A server cut off from its cluster peers still answers pings, so the connection looks
    healthy while JetStream cannot store anything through it; the majority side can.
    """
    while True:
        await asyncio.sleep(1.0)
        since = publisher.failing_since
        if since is None or time.monotonic() - since < FAILOVER_AFTER_S:
            continue
        if client.is_connected and len(client.servers) > 1:
            logger.warning(
                "every publish through %s failed for %.0f s: moving to another server",
                server_of(client),
                FAILOVER_AFTER_S,
            )
            await move_off(client)
            publisher.failing_since = time.monotonic()  # give the next server its chance


def _start_metrics(
    settings: AdapterSettings, publisher: Publisher, source: str
) -> AdapterMetrics | None:
    """Metrics when something reads them (a Prometheus port, OTLP), else none.

    OpenTelemetry is imported only then: the adapter host's extra does not install it.
    """
    if settings.metrics_port is None and not settings.otlp_endpoint:
        return None
    try:
        from services.metrics import AdapterMetrics
    except ImportError as exc:
        raise MissingExtraError(
            f"adapter metrics need OpenTelemetry ({exc.name} is missing): "
            f'pip install "{DISTRIBUTION}[adapter,metrics]"'
        ) from exc
    metrics = AdapterMetrics(
        publisher,
        source,
        samples_per_s=settings.metrics_samples_per_s,
        otlp_endpoint=settings.otlp_endpoint,
        otlp_interval_s=settings.otlp_interval_s,
    )
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    return metrics


async def run_source(
    adapter: Adapter,
    js: JetStreamContext,
    publisher: Publisher,
    stop: asyncio.Event,
    status: StatusReporter,
    name: str,
    backoff: Backoff = SOURCE_BACKOFF,
    retries: int = SOURCE_RETRIES,
) -> None:
    """Run the adapter; when its source fails, say so and reconnect after 1 s, 2 s, 4 s.

    While the source is down the status says ``down`` (with the reason) instead of
    ``heartbeat``, so the bridges tell the clients; ``up`` follows once data flows again. A
    source that worked again starts the schedule over; one that fails every retry raises.
    """
    failures = 0
    while True:
        adapter.ready.clear()
        try:
            await _until_stopped(adapter.run(js, publisher, stop), stop, name)
            return
        except SourceError as exc:
            if adapter.ready.is_set():  # it had worked: start the schedule over
                failures = 0
            if failures >= retries:
                logger.error("source of %s failed %d times in a row: giving up", name, failures + 1)
                raise
            delay = backoff.delay(failures)
            failures += 1
            logger.warning("source of %s failed (%s); reconnecting in %.0f s", name, exc, delay)
            await status.source_failed(str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return


async def _until_stopped(run: Coroutine[Any, Any, None], stop: asyncio.Event, name: str) -> None:
    """Await the adapter; once ``stop`` is set, give it ``STOP_GRACE_S`` and then cancel it.

    An adapter stuck in a publish (NATS away) must not keep the process from shutting down.
    """
    task = asyncio.ensure_future(run)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE_S)
        if not task.done():
            logger.warning("adapter %s ignored stop for %.0f s: cancelling it", name, STOP_GRACE_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        task.result()
    finally:
        stopping.cancel()
        if not task.done():  # we were cancelled ourselves
            task.cancel()


async def _reprovision(
    js: JetStreamContext, policy: StreamPolicy, reconnected: asyncio.Event
) -> None:
    """After a reconnect, make sure the streams exist (a memory-storage server forgets them)."""
    while True:
        await reconnected.wait()
        reconnected.clear()
        try:
            await ensure_streams(js, policy)
        except (NatsError, ProvisioningError) as exc:
            logger.warning("re-provisioning the streams after a reconnect failed: %r", exc)
