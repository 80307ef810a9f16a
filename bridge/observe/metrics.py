"""Bridge metrics with the OpenTelemetry SDK, exported for Prometheus (``/metrics``) and OTLP.

Almost every instrument is *observable*: its callback reads, at collection time, a counter
the data path keeps anyway (``Session.frames_out``, ``Hub.messages_in``, ...), so the
per-message path does no metrics work at all. The synchronous instruments are the control
path's (closes, resumes) and three histograms fed by the writers' process-wide sampler
(``bridge.observe.probe``). The Prometheus registry is this app's own, served by a Starlette route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from opentelemetry.sdk.resources import Resource
from prometheus_client import generate_latest

from bridge.market.statusboard import StatusBoard
from bridge.observe.alerts import AlertBook
from bridge.observe.connbook import ConnectionBook
from bridge.observe.monitor import Monitor
from bridge.observe.procstats import ProcessStats
from bridge.runtime import Runtime
from processkit.telemetry import Reading, meter_pipeline, observe
from schemas import DataType

logger = logging.getLogger(__name__)

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
DEPTH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Observed(NamedTuple):
    """What the observable instruments read at collection time (handed in by their owner)."""

    runtime: Runtime
    connections: ConnectionBook
    status: StatusBoard
    alerts: AlertBook
    process: ProcessStats
    monitor: Monitor


class BridgeMetrics:
    def __init__(self, resource: Resource, otlp_endpoint: str | None, otlp_interval_s: float):
        self.provider, self.registry = meter_pipeline(
            resource,
            {"mdbridge.ws.latency.*": LATENCY_BUCKETS_MS, "mdbridge.ws.queue.depth": DEPTH_BUCKETS},
            otlp_endpoint,
            otlp_interval_s,
        )
        meter = self.meter = self.provider.get_meter("mdbridge.bridge")
        self._closed = meter.create_counter(
            "mdbridge.ws.connections.closed",
            unit="{connection}",
            description="WebSocket connections ended, by close code (rejections included)",
        )
        self._slow = meter.create_counter(
            "mdbridge.ws.slow_consumer.closes",
            unit="{connection}",
            description="connections closed as slow consumers (4009)",
        )
        self._resumes = meter.create_counter(
            "mdbridge.ws.resumes", unit="{resume}", description="resume requests, by result"
        )
        self._slow.add(0)  # present from the start, so rate() and alerts see 0, not nothing
        for result in ("recovered", "not_recovered"):
            self._resumes.add(0, {"result": result})
        self._broker_latency = meter.create_histogram(
            "mdbridge.ws.latency.broker",
            unit="ms",
            description="broker store time to socket write (sampled, live messages)",
        )
        self._source_latency = meter.create_histogram(
            "mdbridge.ws.latency.source",
            unit="ms",
            description="source timestamp to socket write, end to end (sampled, live messages)",
        )
        self._depth = meter.create_histogram(
            "mdbridge.ws.queue.depth",
            unit="{message}",
            description="messages queued for a connection when its writer ran (sampled)",
        )

    # -- synchronous: control path and the writers' sampler ------------------------------------

    def record_latency(self, broker_ms: float, source_ms: float | None, depth: int) -> None:
        self._broker_latency.record(broker_ms)
        if source_ms is not None:
            self._source_latency.record(source_ms)
        self._depth.record(depth)

    def connection_closed(self, code: int) -> None:
        self._closed.add(1, {"code": str(code)})
        if code == 4009:
            self._slow.add(1)

    def resume_result(self, recovered: bool) -> None:
        self._resumes.add(1, {"result": "recovered" if recovered else "not_recovered"})

    # -- observable: read at collection time -----------------------------------------------------

    def observe(self, obs: Observed) -> None:
        runtime, meter = obs.runtime, self.meter

        def counter(name: str, unit: str, description: str, read: Callable[[], Reading]) -> None:
            meter.create_observable_counter(name, [observe(read)], unit, description)

        def gauge(name: str, unit: str, description: str, read: Callable[[], Reading]) -> None:
            meter.create_observable_gauge(name, [observe(read)], unit, description)

        self._observe_connections(gauge, counter, obs)
        counter(
            "mdbridge.nats.messages.in",
            "{message}",
            "messages received from the shared stream consumers",
            lambda: runtime.hub.messages_in,
        )
        counter(
            "mdbridge.nats.received",
            "By",
            "bytes received from NATS",
            lambda: runtime.nc.stats.get("in_bytes", 0),
        )
        counter(
            "mdbridge.nats.reconnects",
            "{reconnect}",
            "reconnections to NATS",
            lambda: runtime.nats_reconnects,
        )
        gauge(
            "mdbridge.nats.connected",
            "1",
            "1 while connected to NATS",
            lambda: 1 if runtime.nc.is_connected else 0,
        )
        gauge(
            "mdbridge.nats.interest.subjects",
            "{subject}",
            "subjects this process holds NATS interest in",
            runtime.hub.interest_count,
        )
        counter(
            "mdbridge.feed.reconfigurations",
            "{change}",
            "shared consumer replacements, by stream",
            lambda: [(f.reconfigurations, {"stream": f.stream}) for f in runtime.hub.feeds()],
        )
        gauge(
            "mdbridge.source.up",
            "1",
            "1 while a data source reports itself up and keeps speaking",
            lambda: [(1 if up else 0, {"source": s}) for s, up in obs.status.health().items()],
        )
        counter(
            "mdbridge.alerts.fired",
            "{alert}",
            "alerts fired, by type",
            lambda: [(n, {"type": t}) for t, n in obs.alerts.fired.items()],
        )
        gauge(
            "mdbridge.alerts.active",
            "{alert}",
            "alerts firing now",
            lambda: len(obs.alerts.active),
        )
        self._observe_process(gauge, counter, obs)

    @staticmethod
    def _observe_connections(
        gauge: Callable[[str, str, str, Callable[[], Reading]], None],
        counter: Callable[[str, str, str, Callable[[], Reading]], None],
        obs: Observed,
    ) -> None:
        book, runtime = obs.connections, obs.runtime

        def by_type(count: Callable[[int], int]) -> Reading:
            counts = dict.fromkeys(DataType, 0)
            for channel in runtime.hub.channels():
                counts[channel.data_type] += count(len(channel.members))
            return [(n, {"data_type": t.value}) for t, n in counts.items()]

        gauge(
            "mdbridge.ws.connections.active",
            "{connection}",
            "open WebSocket connections",
            book.__len__,
        )
        counter(
            "mdbridge.ws.connections.opened",
            "{connection}",
            "WebSocket connections accepted",
            lambda: runtime.connections.opened,
        )
        gauge(
            "mdbridge.ws.subscriptions",
            "{subscription}",
            "client subscriptions, by data type",
            lambda: by_type(lambda members: members),
        )
        gauge(
            "mdbridge.ws.channels",
            "{channel}",
            "shared channels (distinct subscription keys), by data type",
            lambda: by_type(lambda members: 1),
        )
        counter(
            "mdbridge.ws.messages.in",
            "{message}",
            "client frames received",
            lambda: book.totals().messages_in,
        )
        counter(
            "mdbridge.ws.messages.out",
            "{message}",
            "envelopes sent (members of a batch frame counted one by one)",
            lambda: book.totals().messages_out,
        )
        counter("mdbridge.ws.sent", "By", "bytes of frames sent", lambda: book.totals().bytes_out)
        counter(
            "mdbridge.ws.errors",
            "{request}",
            "client requests answered with an error",
            lambda: book.totals().errors,
        )
        counter(
            "mdbridge.ws.conflated",
            "{message}",
            "quotes/depth superseded in a full queue and not sent",
            lambda: book.totals().conflated,
        )
        counter(
            "mdbridge.ws.dropped",
            "{message}",
            "messages discarded when a queue overflowed (slow consumer)",
            lambda: book.totals().dropped,
        )
        gauge(
            "mdbridge.ws.queue.max",
            "By",
            "largest per-connection send queue",
            lambda: book.queue_stats()[0],
        )
        gauge(
            "mdbridge.ws.queue.total",
            "By",
            "all per-connection send queues together",
            lambda: book.queue_stats()[1],
        )
        gauge(
            "mdbridge.ws.queue.max_messages",
            "{message}",
            "deepest per-connection send queue",
            lambda: book.queue_stats()[2],
        )

    @staticmethod
    def _observe_process(
        gauge: Callable[[str, str, str, Callable[[], Reading]], None],
        counter: Callable[[str, str, str, Callable[[], Reading]], None],
        obs: Observed,
    ) -> None:
        read = obs.process.read
        counter(
            "mdbridge.process.cpu.time", "s", "CPU time, user + system", lambda: read().cpu_seconds
        )
        gauge(
            "mdbridge.process.cpu.utilization",
            "1",
            "CPU share over the last monitor interval (1 = one core)",
            lambda: (obs.monitor.latest or {}).get("cpu_usage_percent", 0.0) / 100,
        )
        gauge("mdbridge.process.memory.rss", "By", "resident set size", lambda: read().rss_bytes)
        gauge("mdbridge.process.threads", "{thread}", "threads", lambda: read().threads)
        gauge("mdbridge.process.open_fds", "{fd}", "open file descriptors", lambda: read().open_fds)
        counter(
            "mdbridge.process.network.io",
            "By",
            "bytes through the network interfaces (the pod's, in a container), by direction",
            lambda: [
                (read().net_sent_bytes, {"direction": "transmit"}),
                (read().net_recv_bytes, {"direction": "receive"}),
            ],
        )

    def render(self) -> bytes:
        """The Prometheus text exposition (runs the observable callbacks)."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        self.provider.shutdown()
