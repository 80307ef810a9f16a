"""An adapter's own metrics: published messages, publish latency, source lag (OpenTelemetry).

Counters are observable (read from the Publisher's own counts at collection time); the two
histograms are sampled, at most ``samples_per_s`` observations each per second, so the
publish path stays cheap. Exported for Prometheus on an optional port (``metrics_port``,
served from a small thread by prometheus_client) and over OTLP when an endpoint is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from schemas.telemetry import histogram_views, service_resource
from services.errors import MissingExtraError
from services.publisher import Publisher

logger = logging.getLogger(__name__)

LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000)
LAG_BUCKETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 3000, 10000, 60000)


class _Budget:
    """At most ``per_second`` yes-answers per second (a cheap clock test otherwise)."""

    __slots__ = ("_interval", "_next")

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else float("inf")
        self._next = 0.0

    def take(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._interval
        return True


def _observe(read: Callable[[], float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(read())]

    return callback


def _otlp_reader(endpoint: str, interval_s: float) -> MetricReader:
    """OTLP over HTTP; imported only when asked for (the adapter host's extra leaves it out)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        raise MissingExtraError(
            "MDBRIDGE_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
            "pip install opentelemetry-exporter-otlp-proto-http"
        ) from exc
    exporter = OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics")
    return PeriodicExportingMetricReader(exporter, export_interval_millis=interval_s * 1000)


class AdapterMetrics:
    """Watches one Publisher (it becomes the publisher's observer)."""

    def __init__(
        self,
        publisher: Publisher,
        source_id: str,
        *,
        samples_per_s: float = 100.0,
        otlp_endpoint: str | None = None,
        otlp_interval_s: float = 15.0,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        readers: list[MetricReader] = [
            PrometheusMetricReader(registry=self.registry, scope_info_enabled=False)
        ]
        if otlp_endpoint:
            readers.append(_otlp_reader(otlp_endpoint, otlp_interval_s))
        self.provider = MeterProvider(
            resource=service_resource("mdbridge-adapter", **{"mdbridge.source": source_id}),
            metric_readers=readers,
            views=histogram_views(
                {
                    "mdbridge.adapter.publish.latency": LATENCY_BUCKETS_MS,
                    "mdbridge.adapter.source.lag": LAG_BUCKETS_MS,
                }
            ),
        )
        meter = self.provider.get_meter("mdbridge.adapter")
        for name, description, read in (
            ("published", "messages the broker stored", lambda: publisher.published),
            (
                "duplicates",
                "messages the broker dropped as duplicates",
                lambda: publisher.duplicates,
            ),
            ("failed", "publishes refused or never acknowledged", lambda: publisher.failed),
        ):
            meter.create_observable_counter(
                f"mdbridge.adapter.{name}", [_observe(read)], "{message}", description
            )
        meter.create_observable_gauge(
            "mdbridge.adapter.in_flight",
            [_observe(lambda: publisher.in_flight)],
            "{message}",
            "publishes awaiting their acknowledgement",
        )
        meter.create_observable_gauge(
            "mdbridge.adapter.source.lag.last",
            [_observe(lambda: self.last_lag_ms)],
            "ms",
            "the most recent sampled source lag",
        )
        self._latency = meter.create_histogram(
            "mdbridge.adapter.publish.latency",
            unit="ms",
            description="publish to broker acknowledgement (sampled)",
        )
        self._lag = meter.create_histogram(
            "mdbridge.adapter.source.lag",
            unit="ms",
            description="payload timestamp (source time) to publish (sampled)",
        )
        self._lag_budget = _Budget(samples_per_s)
        self._ack_budget = _Budget(samples_per_s)
        self.last_lag_ms = 0.0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        publisher.observer = self

    # -- the publisher's observer -----------------------------------------------------------

    def published(self, payload: Mapping[str, Any], published_ms: float) -> None:
        if not self._lag_budget.take():
            return
        stamp = payload.get("timestamp")
        if not isinstance(stamp, str):
            return
        try:
            source_ms = datetime.fromisoformat(stamp).timestamp() * 1000
        except ValueError:
            return
        self.last_lag_ms = max(0.0, published_ms - source_ms)
        self._lag.record(self.last_lag_ms)

    def acked(self, seconds: float) -> None:
        if self._ack_budget.take():
            self._latency.record(seconds * 1000)

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` for Prometheus from a small background thread."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        logger.info("adapter metrics on http://%s:%d/metrics", host, port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.provider.shutdown()
