"""The monitor: one sample per interval, alerts checked on each (docs/observability.md, "Alerts").

A sample holds the performance figures (connections, messages per second, latency,
memory, CPU, network, error rate) plus what the dashboard plots; the last ``HISTORY`` samples
are kept for its charts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.market.statusboard import StatusBoard
from bridge.observe.alerts import AlertBook
from bridge.observe.connbook import ConnectionBook
from bridge.observe.probe import LatencySampler
from bridge.observe.procstats import ProcessReading, ProcessStats, cpu_percent

logger = logging.getLogger(__name__)

HISTORY = 300


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
    return values[rank]


@dataclass(frozen=True, slots=True)
class _Counts:
    at: float  # monotonic
    nats_in: int
    ws_out: int
    bytes_out: int
    requests: int
    errors: int
    process: ProcessReading


class Monitor:
    def __init__(
        self,
        *,
        connections: ConnectionBook,
        sampler: LatencySampler,
        process: ProcessStats,
        status: StatusBoard,
        alerts: AlertBook,
        nats_in: Callable[[], int],
        nats_connected: Callable[[], bool],
        subscriptions: Callable[[], int],
        interval_s: float,
        window_s: float,
    ) -> None:
        self._connections = connections
        self._sampler = sampler
        self._process = process
        self._status = status
        self._alerts = alerts
        self._nats_in = nats_in
        self._nats_connected = nats_connected
        self._subscriptions = subscriptions
        self.interval_s = interval_s
        self.window_s = window_s
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._counts: deque[_Counts] = deque()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mdbridge-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a bad sample must not end monitoring; say it once per tick
                logger.exception("monitor sample failed")
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> dict[str, Any]:
        sample = self.collect()
        await self._alerts.evaluate(sample, self._status.health(), self._nats_connected())
        return sample

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.history[-1] if self.history else None

    def _count(self) -> _Counts:
        totals = self._connections.totals()
        return _Counts(
            at=time.monotonic(),
            nats_in=self._nats_in(),
            ws_out=totals.messages_out,
            bytes_out=totals.bytes_out,
            requests=totals.messages_in,
            errors=totals.errors,
            process=self._process.read(),
        )

    def collect(self) -> dict[str, Any]:
        """Take one sample and keep it in the history."""
        now = self._count()
        previous = self._counts[-1] if self._counts else now
        self._counts.append(now)
        while self._counts and now.at - self._counts[0].at > self.window_s:
            self._counts.popleft()
        oldest = self._counts[0]
        elapsed = now.at - previous.at

        def rate(new: int, old: int) -> float:
            return round((new - old) / elapsed, 3) if elapsed > 0 else 0.0

        requests = now.requests - oldest.requests
        errors = now.errors - oldest.errors
        cutoff = now.at - self.window_s
        window = [s for s in self._sampler.window if s[0] >= cutoff]
        broker = sorted(s[1] for s in window)
        source = sorted(s[2] for s in window if not math.isnan(s[2]))
        net = now.process.net_sent_bytes + now.process.net_recv_bytes
        net_before = previous.process.net_sent_bytes + previous.process.net_recv_bytes
        largest, _, deepest = self._connections.queue_stats()
        sample = {
            "at_ms": round(time.time() * 1000),
            "connections": len(self._connections),
            "subscriptions": self._subscriptions(),
            "messages_per_second": rate(now.ws_out, previous.ws_out),
            "nats_messages_per_second": rate(now.nats_in, previous.nats_in),
            "bytes_out_per_second": rate(now.bytes_out, previous.bytes_out),
            "latency_samples": len(broker),
            "latency_avg_ms": round(sum(broker) / len(broker), 3) if broker else 0.0,
            "latency_p50_ms": round(percentile(broker, 50), 3),
            "latency_p95_ms": round(percentile(broker, 95), 3),
            "latency_p99_ms": round(percentile(broker, 99), 3),
            "source_latency_p50_ms": round(percentile(source, 50), 3),
            "source_latency_p95_ms": round(percentile(source, 95), 3),
            "source_latency_p99_ms": round(percentile(source, 99), 3),
            "memory_usage_mb": round(now.process.rss_bytes / 2**20, 1),
            "cpu_usage_percent": round(cpu_percent(previous.process, now.process), 1),
            "network_io_mbps": round(rate(net, net_before) * 8 / 1e6, 3),
            "error_rate_percent": round(errors / requests * 100, 2) if requests else 0.0,
            "requests_in_window": requests,
            "queue_max_bytes": largest,
            "queue_max_messages": deepest,
        }
        self.history.append(sample)
        return sample
