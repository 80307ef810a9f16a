"""The hand-off from xtquant's callback threads to the event loop: bounded, conflating.

Callbacks run on the SDK's dispatcher threads and must return at once. They store what
they got under a lock and, only when the loop is not already due to look, schedule one
wake-up with ``loop.call_soon_threadsafe``: a burst of pushes costs one loop callback, not
one each. Snapshots (ticks, Level-2 quotes) conflate to the newest per symbol, so a
whole-market push is bounded by the market's size however far the loop falls behind; list
items (bars, trades) queue in order up to ``max_items``, then the oldest are dropped and
counted. Bars conflate per (symbol, period, bar time): an update supersedes the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Raw = dict[str, Any]


@dataclass(slots=True)
class Batch:
    """What the loop takes at once: newest snapshot per (kind, symbol), then ordered items."""

    snapshots: dict[tuple[str, str], Raw] = field(default_factory=dict)
    items: list[tuple[str, str, Raw]] = field(default_factory=list)  # (kind, symbol, data)
    bars: dict[tuple[str, str, int], Raw] = field(default_factory=dict)  # (period, symbol, t)

    def __len__(self) -> int:
        return len(self.snapshots) + len(self.items) + len(self.bars)


class Inbox:
    """Thread-safe producer side (``offer_*``), asyncio consumer side (``take``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_items: int) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._scheduled = False
        self._max_items = max_items
        self._snapshots: dict[tuple[str, str], Raw] = {}
        self._items: deque[tuple[str, str, Raw]] = deque()
        self._bars: dict[tuple[str, str, int], Raw] = {}
        self.pushes = 0  # callbacks received
        self.received = 0  # records received
        self.conflated = 0  # snapshots superseded before the loop took them
        self.dropped = 0  # list items dropped at the bound
        self.last_push = time.monotonic()

    # -- producer side: any thread ----------------------------------------------------------

    def offer_snapshots(self, kind: str, datas: Mapping[str, Any]) -> None:
        """``{code: dict}`` (whole-market push) or ``{code: [dict, ...]}`` (subscribe_quote)."""
        with self._lock:
            self._note(len(datas))
            snapshots = self._snapshots
            for code, value in datas.items():
                record = value[-1] if isinstance(value, list) else value  # the last is newest
                if not isinstance(record, dict):
                    continue
                key = (kind, code)
                if key in snapshots:
                    self.conflated += 1
                snapshots[key] = record
            self._schedule()

    def offer_items(self, kind: str, datas: Mapping[str, Any]) -> None:
        """``{code: [dict, ...]}`` whose every element counts (trades)."""
        with self._lock:
            self._note(len(datas))
            items = self._items
            for code, values in datas.items():
                for record in values if isinstance(values, list) else [values]:
                    if isinstance(record, dict):
                        items.append((kind, code, record))
            while len(items) > self._max_items:
                items.popleft()
                self.dropped += 1
            self._schedule()

    def offer_bars(self, period: str, datas: Mapping[str, Any]) -> None:
        """``{code: [bar, ...]}``: the newest state of each bar (a bar is re-pushed as it forms)."""
        with self._lock:
            self._note(len(datas))
            bars = self._bars
            for code, values in datas.items():
                for record in values if isinstance(values, list) else [values]:
                    if isinstance(record, dict) and isinstance(record.get("time"), (int, float)):
                        key = (period, code, int(record["time"]))
                        if key in bars:
                            self.conflated += 1
                            del bars[key]  # re-insert: keeps the dict in arrival order
                        bars[key] = record
            while len(bars) > self._max_items:
                del bars[next(iter(bars))]
                self.dropped += 1
            self._schedule()

    def _note(self, count: int) -> None:
        self.pushes += 1
        self.received += count
        self.last_push = time.monotonic()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: we are shutting down
                self._loop.call_soon_threadsafe(self._wake.set)

    # -- consumer side: the event loop ------------------------------------------------------

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for something to take; True if there is."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        return self._wake.is_set()

    def take(self) -> Batch:
        with self._lock:
            batch = Batch(self._snapshots, list(self._items), self._bars)
            self._snapshots = {}
            self._items.clear()
            self._bars = {}
            self._scheduled = False
            self._wake.clear()
        return batch

    def clear(self) -> None:
        """Forget what is queued (after a reconnect the first push repeats the current state)."""
        self.take()
