"""Data-source health: follow ``md.status.>`` and tell subscribers when a source goes quiet.

Adapters publish ``{"source", "event": "heartbeat"|"up"|"down", "timestamp", ...}`` on
``md.status.<source_id>``, optionally with ``markets`` and ``data_types`` saying what they
cover. A source that says ``down``, or is silent for ``source_timeout_s``, is reported with
``status source_down`` to every connection with a subscription it feeds; ``source_up`` follows
when it is heard again. Reading starts from the last status of each source (last per
subject), so a bridge that starts while a source is already down knows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from bridge.core.channel import Channel, Membership
from bridge.core.frames import status_frame
from bridge.market.statusboard import FINDING_KINDS, MAX_PAYLOAD_BYTES, MAX_SOURCES, REPORT_KINDS
from schemas import STATUS_STREAM, StatusEvent
from schemas.subjects import QUALITY_PREFIX, STATUS_PREFIX, SYMBOL_STATUS_PREFIX
from schemas.timefmt import epoch_ms_to_iso

logger = logging.getLogger(__name__)

IDLE_HEARTBEAT_S = 2.0
# md.status.* subjects that are not a source speaking
NOT_SOURCES = (SYMBOL_STATUS_PREFIX + ".", QUALITY_PREFIX + ".")
RETIRED_AFTER_S = 3600.0  # a source last heard of longer ago than this is not reported
DOWN_EVENTS = frozenset({"down", "error", "disconnected"})


@dataclass(slots=True)
class SourceState:
    source: str
    up: bool = True
    last_seen: float = 0.0  # wall-clock seconds
    reason: str = ""
    markets: frozenset[str] | None = None  # None: covers everything
    data_types: frozenset[str] | None = None
    since: float = field(default_factory=time.time)

    def feeds(self, channel: Channel) -> bool:
        if self.data_types is not None and channel.data_type.value not in self.data_types:
            return False
        market = channel.symbol.rpartition(".")[2]
        return self.markets is None or market in self.markets


class Subscriber(Protocol):
    """What this module needs of a session."""

    @property
    def memberships(self) -> dict[str, Membership]: ...

    def push_frame(self, text: str) -> None: ...


def _names(value: object) -> frozenset[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


class SourceHealth:
    def __init__(
        self,
        js: JetStreamContext,
        sessions: Callable[[], Iterable[Subscriber]],
        timeout_s: float,
    ) -> None:
        self._js = js
        self._sessions = sessions
        self._timeout_s = timeout_s
        self.states: dict[str, SourceState] = {}
        self._sub: JetStreamContext.PushSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self._js.subscribe(
            f"{STATUS_PREFIX}.>",
            stream=STATUS_STREAM,
            cb=self._on_status,
            ordered_consumer=True,
            idle_heartbeat=IDLE_HEARTBEAT_S,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
        )
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    def notice(self, state: SourceState) -> str:
        event = StatusEvent.SOURCE_UP if state.up else StatusEvent.SOURCE_DOWN
        fields: dict[str, object] = {
            "source": state.source,
            "since": epoch_ms_to_iso(state.since * 1000),
        }
        if state.reason:
            fields["reason"] = state.reason
        return status_frame(event, **fields)

    async def _on_status(self, msg: Msg) -> None:
        if len(msg.data) > MAX_PAYLOAD_BYTES:
            return
        try:
            payload = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("kind")
        if kind in REPORT_KINDS or kind in FINDING_KINDS or msg.subject.endswith(".quality"):
            return  # data-quality reports share md.status; they say nothing of liveness
        if msg.subject.startswith(NOT_SOURCES):
            return  # per-symbol events (bridge/market/symbolstatus.py) and the quality monitor
        source = str(payload.get("source") or msg.subject[len(STATUS_PREFIX) + 1 :])[:64]
        stored = msg.metadata.timestamp if msg.reply else None
        seen = stored.timestamp() if stored else time.time()
        state = self.states.get(source)
        if state is None:
            if time.time() - seen > RETIRED_AFTER_S or len(self.states) >= MAX_SOURCES:
                return
            state = self.states[source] = SourceState(source, last_seen=seen, since=seen)
        state.last_seen = max(state.last_seen, seen)
        state.markets = _names(payload.get("markets")) or state.markets
        state.data_types = _names(payload.get("data_types")) or state.data_types
        event = str(payload.get("event", "heartbeat"))
        if event in DOWN_EVENTS:
            self._set(state, up=False, reason=str(payload.get("reason") or f"source said {event}"))
        elif time.time() - seen <= self._timeout_s:
            self._set(state, up=True, reason="")
        else:  # an old status read at start: the source has been silent since
            self._set(state, up=False, reason=f"silent for more than {self._timeout_s:g}s")

    async def _watch(self) -> None:
        interval = min(1.0, self._timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            for state in list(self.states.values()):
                if state.up and now - state.last_seen > self._timeout_s:
                    self._set(state, up=False, reason=f"silent for more than {self._timeout_s:g}s")

    def _set(self, state: SourceState, *, up: bool, reason: str) -> None:
        if state.up == up:
            return
        state.up, state.reason, state.since = up, reason, time.time()
        logger.warning("source %s is %s %s", state.source, "up" if up else "down", reason)
        frame = self.notice(state)  # encoded once for every affected connection
        for session in self._sessions():
            if any(state.feeds(m.channel) for m in session.memberships.values()):
                session.push_frame(frame)
