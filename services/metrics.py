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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import generate_latest, start_http_server

from processkit.telemetry import meter_pipeline, observe, service_resource
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
        self.provider, self.registry = meter_pipeline(
            service_resource("mdbridge-adapter", **{"mdbridge.source": source_id}),
            {
                "mdbridge.adapter.publish.latency": LATENCY_BUCKETS_MS,
                "mdbridge.adapter.source.lag": LAG_BUCKETS_MS,
            },
            otlp_endpoint,
            otlp_interval_s,
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
                f"mdbridge.adapter.{name}", [observe(read)], "{message}", description
            )
        meter.create_observable_gauge(
            "mdbridge.adapter.in_flight",
            [observe(lambda: publisher.in_flight)],
            "{message}",
            "publishes awaiting their acknowledgement",
        )
        meter.create_observable_gauge(
            "mdbridge.adapter.source.lag.last",
            [observe(lambda: self.last_lag_ms)],
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
