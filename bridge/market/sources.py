"""Data-source health for WebSocket clients: tell subscribers when a source goes quiet.

Adapters publish ``{"source", "event": "heartbeat"|"up"|"down", "timestamp", ...}`` on
``md.status.<source_id>``, optionally with ``markets`` and ``data_types`` saying what they
cover. The status board (bridge/market/statusboard.py) is the one follower of ``md.status.>``
and hands each source status to :meth:`SourceHealth.on_status`. A source whose last word is a
down event (``DOWN_EVENTS``: the board's meaning, shared with /v1/market/status, the dashboard
and the ``mdbridge.source.up`` metric), or is silent for ``source_timeout_s``, is reported with
``status source_down`` to every connection with a subscription it feeds; ``source_up`` follows
when it is heard again. The board reads the last status of each source first, so a bridge that
starts while a source is already down knows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.core.channel import Channel, Membership
from bridge.core.frames import status_frame
from bridge.market.statusboard import MAX_SOURCES, StatusBoard, is_up, source_event
from schemas import StatusEvent
from schemas.timefmt import epoch_ms_to_iso

logger = logging.getLogger(__name__)

RETIRED_AFTER_S = 3600.0  # a source last heard of longer ago than this is not reported


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
        board: StatusBoard,
        sessions: Callable[[], Iterable[Subscriber]],
        timeout_s: float,
    ) -> None:
        self._sessions = sessions
        self._timeout_s = timeout_s
        self.states: dict[str, SourceState] = {}
        self._task: asyncio.Task[None] | None = None
        board.listeners.append(self.on_status)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def notice(self, state: SourceState) -> str:
        event = StatusEvent.SOURCE_UP if state.up else StatusEvent.SOURCE_DOWN
        fields: dict[str, object] = {
            "source": state.source,
            "since": epoch_ms_to_iso(state.since * 1000),
        }
        if state.reason:
            fields["reason"] = state.reason
        return status_frame(event, **fields)

    def on_status(self, source: str, payload: dict[str, Any], seen: float) -> None:
        """A source spoke (the board calls this): at ``seen``, broker time in epoch seconds."""
        state = self.states.get(source)
        if state is None:
            if time.time() - seen > RETIRED_AFTER_S or len(self.states) >= MAX_SOURCES:
                return
            state = self.states[source] = SourceState(source, last_seen=seen, since=seen)
        state.last_seen = max(state.last_seen, seen)
        state.markets = _names(payload.get("markets")) or state.markets
        state.data_types = _names(payload.get("data_types")) or state.data_types
        event = source_event(payload) or "heartbeat"
        age = time.time() - seen
        if is_up(event, age, self._timeout_s):
            self._set(state, up=True, reason="")
        elif is_up(event, 0.0, self._timeout_s):  # an old status read at start
            self._set(state, up=False, reason=f"silent for more than {self._timeout_s:g}s")
        else:
            self._set(state, up=False, reason=str(payload.get("reason") or f"source said {event}"))

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
