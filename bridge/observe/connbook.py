"""Who is connected, with the diagnostics the admin API shows, and totals that never go down.

Live counts come from each Session's own counters; when a connection ends its counts move
into ``retired``, so the exported counters stay monotonic across disconnects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.context import Context
from starlette.websockets import WebSocket

from bridge.observe.probe import WriterProbe
from bridge.ws.session import Session
from schemas import epoch_ms_to_iso

TOTALS_CACHE_S = 0.25


@dataclass(slots=True)
class Totals:
    """Counts over every connection this process has served."""

    messages_in: int = 0  # client frames received
    messages_out: int = 0  # envelopes sent (control and data; a batch counts its members)
    bytes_out: int = 0
    errors: int = 0  # requests answered with an ``error`` frame
    conflated: int = 0  # superseded quotes/depth dropped from a full queue
    dropped: int = 0  # messages discarded because a queue overflowed (then closed 4009)

    def add_session(self, session: Session) -> None:
        self.messages_in += session.frames_in
        self.messages_out += session.frames_out
        self.bytes_out += session.bytes_out
        self.errors += session.errors
        self.conflated += session.conflated
        self.dropped += session.outbox.dropped

    def copy(self) -> Totals:
        return Totals(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(eq=False)
class ConnectionInfo:
    session: Session
    websocket: WebSocket
    probe: WriterProbe
    remote: str
    user_agent: str
    opened_at: float = field(default_factory=time.time)
    trace_context: Context | None = None
    transport: Any = None  # uvicorn's protocol object, when reachable (ping round-trip time)

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def tier(self) -> int:
        return self.session.principal.tier

    def ping_rtt_ms(self) -> float | None:
        rtt = getattr(self.transport, "last_ping_rtt", None)
        return round(rtt * 1000, 3) if isinstance(rtt, float) and rtt > 0 else None

    def summary(self) -> dict[str, Any]:
        s = self.session
        return {
            "connection_id": s.id,
            "remote_address": self.remote,
            "user_agent": self.user_agent,
            "subject": s.principal.subject,
            "tier": self.tier,
            "opened_at": epoch_ms_to_iso(self.opened_at * 1000),
            "subscriptions": len(s.memberships),
            "queue_messages": len(s.outbox),
            "queue_bytes": s.outbox.queued_bytes,
            "messages_in": s.frames_in,
            "messages_out": s.frames_out,
            "bytes_out": s.bytes_out,
            "errors": s.errors,
            "conflated": s.conflated,
            "last_ping_rtt_ms": self.ping_rtt_ms(),
            "traced": self.probe.trace,
        }

    def detail(self) -> dict[str, Any]:
        return self.summary() | {"subscription_list": self.session.subscription_rows()}


class ConnectionBook:
    def __init__(self) -> None:
        self.live: dict[str, ConnectionInfo] = {}
        self.retired = Totals()
        self._cached: tuple[float, Totals] | None = None

    def __len__(self) -> int:
        return len(self.live)

    def add(self, info: ConnectionInfo) -> None:
        self.live[info.id] = info

    def get(self, connection_id: str) -> ConnectionInfo | None:
        return self.live.get(connection_id)

    def retire(self, connection_id: str) -> ConnectionInfo | None:
        info = self.live.pop(connection_id, None)
        if info is not None:
            info.probe.set_trace(False)
            self.retired.add_session(info.session)
            self._cached = None
        return info

    def infos(self) -> list[ConnectionInfo]:
        return list(self.live.values())

    def totals(self) -> Totals:
        """Retired plus live counts; cached briefly so one scrape sums the sessions once."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < TOTALS_CACHE_S:
            return self._cached[1]
        totals = self.retired.copy()
        for info in self.infos():
            totals.add_session(info.session)
        self._cached = (now, totals)
        return totals

    def queue_stats(self) -> tuple[int, int, int]:
        """(largest queue in bytes, all queues in bytes, largest queue in messages)."""
        largest = total = deepest = 0
        for info in self.infos():
            outbox = info.session.outbox
            queued = outbox.queued_bytes
            total += queued
            largest = max(largest, queued)
            deepest = max(deepest, len(outbox))
        return largest, total, deepest
