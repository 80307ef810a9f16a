"""Alerts: the ``alert_*`` settings' thresholds, evaluated on every monitor sample.

An alert *fires* when its condition becomes true and *resolves* when it is false again. Both
transitions are logged (firing at ERROR, with the numbers), published as JSON on
``md.alerts`` and kept for ``/admin/alerts`` (the active ones, and a ring of recent ones).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, NamedTuple

import orjson

from schemas import now_iso

logger = logging.getLogger(__name__)

RECENT_ALERTS = 200

Severity = Literal["warning", "critical"]
Publish = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_connections: int = 1000
    max_latency_ms: float = 100.0  # p95 broker → socket over the monitor window
    max_error_rate_percent: float = 5.0  # requests answered with an error, over the window
    max_memory_mb: float = 512.0  # resident set size
    min_requests: int = 20  # fewer requests in the window: no error-rate verdict
    min_latency_samples: int = 10


@dataclass(slots=True)
class Alert:
    type: str
    severity: Severity
    message: str
    metrics: dict[str, Any]
    timestamp: str = field(default_factory=now_iso)
    state: Literal["firing", "resolved"] = "firing"
    resolved_at: str | None = None
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Condition(NamedTuple):
    """An alert condition that holds now."""

    type: str  # e.g. "latency", "source_down:sim"
    severity: Severity
    message: str
    numbers: dict[str, Any]  # the figures behind it, with the threshold


def check_alerts(
    thresholds: Thresholds,
    sample: dict[str, Any],
    sources: dict[str, bool],
    nats_connected: bool,
) -> list[Condition]:
    """Every condition that holds now (pure: the monitor sample in, conditions out)."""
    t = thresholds
    found: list[Condition] = []
    connections = sample["connections"]
    if connections > t.max_connections:
        found.append(
            Condition(
                "connections",
                "warning",
                f"{connections} connections, above the limit of {t.max_connections}",
                {"connections": connections, "threshold": t.max_connections},
            )
        )
    p95 = sample["latency_p95_ms"]
    if sample["latency_samples"] >= t.min_latency_samples and p95 > t.max_latency_ms:
        found.append(
            Condition(
                "latency",
                "warning",
                f"p95 broker-to-socket latency {p95:.1f} ms, above {t.max_latency_ms:g} ms",
                {"latency_p95_ms": p95, "threshold": t.max_latency_ms},
            )
        )
    rate, requests = sample["error_rate_percent"], sample["requests_in_window"]
    if requests >= t.min_requests and rate > t.max_error_rate_percent:
        found.append(
            Condition(
                "error_rate",
                "warning",
                f"{rate:.1f}% of {requests} requests failed, above {t.max_error_rate_percent:g}%",
                {
                    "error_rate_percent": rate,
                    "requests": requests,
                    "threshold": t.max_error_rate_percent,
                },
            )
        )
    memory = sample["memory_usage_mb"]
    if memory > t.max_memory_mb:
        found.append(
            Condition(
                "memory",
                "critical",
                f"resident memory {memory:.0f} MB, above {t.max_memory_mb:g} MB",
                {"memory_usage_mb": memory, "threshold": t.max_memory_mb},
            )
        )
    if not nats_connected:
        found.append(Condition("nats_disconnected", "critical", "the bridge lost NATS", {}))
    for source, up in sorted(sources.items()):
        if not up:
            found.append(
                Condition(
                    f"source_down:{source}", "critical", f"source {source} is down or silent", {}
                )
            )
    return found


class AlertBook:
    def __init__(self, thresholds: Thresholds, publish: Publish | None = None) -> None:
        self.thresholds = thresholds
        self._publish = publish
        self.active: dict[str, Alert] = {}
        self.recent: deque[Alert] = deque(maxlen=RECENT_ALERTS)
        self.fired: dict[str, int] = {}
        self._ids = itertools.count(1)

    async def evaluate(
        self, sample: dict[str, Any], sources: dict[str, bool], nats_connected: bool
    ) -> list[Alert]:
        """Apply the conditions that hold now; returns the alerts that fired or resolved."""
        now = {c.type: c for c in check_alerts(self.thresholds, sample, sources, nats_connected)}
        changed: list[Alert] = []
        for type_, severity, message, numbers in now.values():
            if type_ in self.active:
                self.active[type_].metrics = numbers
                continue
            alert = Alert(type_, severity, message, numbers, id=f"a{next(self._ids)}")
            self.active[type_] = alert
            self.fired[type_.partition(":")[0]] = self.fired.get(type_.partition(":")[0], 0) + 1
            logger.error("alert %s: %s", type_, message, extra={"alert": alert.to_dict()})
            changed.append(alert)
        for type_ in [t for t in self.active if t not in now]:
            alert = self.active.pop(type_)
            alert.state, alert.resolved_at = "resolved", now_iso()
            logger.warning("alert %s resolved", type_, extra={"alert": alert.to_dict()})
            changed.append(alert)
        for alert in changed:
            self.recent.append(replace(alert, metrics=dict(alert.metrics)))  # as it was now
            await self._send(alert)
        return changed

    async def _send(self, alert: Alert) -> None:
        if self._publish is None:
            return
        try:
            await self._publish(orjson.dumps(alert.to_dict()))
        except Exception as exc:  # NATS down: the log line and the admin API still have it
            logger.warning("could not publish alert %s: %r", alert.type, exc)

    def view(self) -> dict[str, Any]:
        return {
            "active": [a.to_dict() for a in self.active.values()],
            "recent": [a.to_dict() for a in reversed(self.recent)],
            "thresholds": asdict(self.thresholds),
        }
