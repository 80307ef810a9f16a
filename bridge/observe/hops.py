"""Hop times for ``mdbridge trace``: when the bridge received a message, and its traceparent.

Only while at least one connection is traced is the tap attached to the stream feeds; then
each delivered message costs one dict insert (bounded), otherwise nothing at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from bridge.core.feed import StreamFeed
from schemas.headers import TRACEPARENT

MAX_HOPS = 16_384  # per process; at 10k msg/s that is ~1.6 s of history

# (bridge receive time in epoch ms, traceparent or "")
Hop = tuple[float, str]


class HopTap:
    def __init__(self, feeds: Iterable[StreamFeed]) -> None:
        self._feeds = list(feeds)
        self._hops: dict[tuple[str, int], Hop] = {}
        self._users = 0

    @property
    def active(self) -> bool:
        return self._users > 0

    def acquire(self) -> None:
        self._users += 1
        if self._users == 1:
            for feed in self._feeds:
                feed.tap = self.record

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            for feed in self._feeds:
                feed.tap = None
            self._hops.clear()

    def record(self, stream: str, seq: int, headers: dict[str, str] | None) -> None:
        traceparent = headers.get(TRACEPARENT, "") if headers else ""
        hops = self._hops
        hops[(stream, seq)] = (time.time() * 1000, traceparent)
        if len(hops) > MAX_HOPS:
            del hops[next(iter(hops))]

    def lookup(self, stream: str, seq: int) -> Hop | None:
        return self._hops.get((stream, seq))
