"""A connection's bounded send queue: bounded by bytes and by age, conflating, one writer.

The fan-out only ever calls :meth:`Outbox.push` (never awaits a socket); the connection's
writer task takes what is queued and sends it as one frame. Two bounds keep what a slow
reader gets fresh and what it costs small:

* age: when the writer takes from a queue whose oldest item is older than ``max_age_s``,
  conflatable items (quotes, depth) keep only the newest per key, so the reader gets the
  latest value rather than every value late;
* bytes: past ``max_bytes`` the same conflation runs at once; if the queue is still over,
  the connection is a slow consumer and must be closed (trades and klines end up here).

Each conflation is reported once, with the count per channel, so the owner can tell the
client *ahead* of the data (:meth:`push_first`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

_monotonic = time.monotonic


class Item:
    """One queued frame; one Item is shared by every member of a channel, so it is never
    changed after it is made (:meth:`with_text` makes another).

    A slotted class rather than a NamedTuple: CPython 3.11+ specialises attribute loads on
    slots but not indexing a tuple subclass, and the per-delivery path reads every item
    (scripts/bench_hotpath.py: 262-266 ns a delivery as a NamedTuple, see docs/benchmarks.md).
    """

    __slots__ = ("born", "channel", "conflate_key", "seq", "subject", "text")

    def __init__(
        self,
        text: str,
        channel: Any,  # the Channel it belongs to; None for control frames
        seq: int,  # stream sequence; 0 for control frames
        conflate_key: Hashable | None,  # None: never conflated (trades, klines, control)
        subject: str,
        born: float,  # monotonic time it was encoded: a queue's age is its oldest item's
    ) -> None:
        self.text = text
        self.channel = channel
        self.seq = seq
        self.conflate_key = conflate_key
        self.subject = subject
        self.born = born

    def with_text(self, text: str) -> Item:
        """The same item with other text (a traced copy), born when this one was."""
        return Item(text, self.channel, self.seq, self.conflate_key, self.subject, self.born)

    def __repr__(self) -> str:
        return f"Item(seq={self.seq}, subject={self.subject!r}, text={self.text[:40]!r})"


def make_item(
    text: str, channel: Any, seq: int, conflate_key: Hashable | None, subject: str
) -> Item:
    return Item(text, channel, seq, conflate_key, subject, _monotonic())


def control_item(text: str) -> Item:
    return make_item(text, None, 0, None, "")


Conflated = Callable[[dict[Any, int], str], None]  # (dropped per channel, "age" | "bytes")


def _ignore(reason: str) -> None:
    return None


class Outbox:
    __slots__ = (
        "_age_checked",
        "_bytes",
        "_drain_waiters",
        "_items",
        "_max_age_s",
        "_max_bytes",
        "_on_conflated",
        "_on_overflow",
        "_wakeup",
        "dropped",
        "exact",
        "overflow_reason",
        "overflowed",
    )

    def __init__(
        self,
        max_bytes: int,
        on_conflated: Conflated,
        on_overflow: Callable[[str], None] = _ignore,
        *,
        max_age_s: float = 0.0,
    ) -> None:
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s  # 0: conflate on bytes only
        self._age_checked = 0.0
        self._wakeup = asyncio.Event()
        self._on_conflated = on_conflated
        self._on_overflow = on_overflow
        self._drain_waiters: list[tuple[int, asyncio.Event]] = []
        # channels a client resumed: it asked for every message, so their items are never
        # conflated for age (the byte bound still conflates them, announced, or closes)
        self.exact: set[Any] = set()
        self.overflowed = False
        self.dropped = 0  # items discarded after an overflow (the connection is closing)
        self.overflow_reason = ""

    def __len__(self) -> int:
        return len(self._items)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def age(self, now: float | None = None) -> float:
        """Seconds the oldest queued item has waited; 0 when empty."""
        if not self._items:
            return 0.0
        return (_monotonic() if now is None else now) - self._items[0].born

    def push(self, item: Item) -> None:
        if self.overflowed:
            self.dropped += 1
            return
        self._items.append(item)
        self._bytes += len(item.text)
        if self._bytes > self._max_bytes:
            self._relieve("bytes")
        self._wakeup.set()

    def push_first(self, item: Item) -> None:
        """Queue ahead of everything: notices about the connection itself jump the queue."""
        if self.overflowed:
            self.dropped += 1
            return
        self._items.appendleft(item)
        self._bytes += len(item.text)
        self._wakeup.set()

    def _relieve(self, reason: str) -> None:
        """Keep only the newest item per conflation key; overflow if that is not enough."""
        seen: set[Hashable] = set()
        kept: deque[Item] = deque()
        dropped: dict[Any, int] = {}
        exact = self.exact if reason == "age" else ()
        for item in reversed(self._items):
            key = item.conflate_key
            if key is not None and item.channel not in exact:
                if key in seen:
                    dropped[item.channel] = dropped.get(item.channel, 0) + 1
                    continue
                seen.add(key)
            kept.appendleft(item)
        self._items = kept
        self._bytes = sum(len(item.text) for item in kept)
        if dropped:
            self._on_conflated(dropped, reason)  # may push_first a notice
        if reason == "bytes" and self._bytes > self._max_bytes:
            self.fail(f"send queue passed {self._max_bytes} bytes")

    def fail(self, reason: str) -> None:
        """Mark the connection a slow consumer: nothing more is queued, its owner closes it."""
        if self.overflowed:
            return
        self.overflowed = True
        self.overflow_reason = reason
        self._wakeup.set()
        for _, event in self._drain_waiters:
            event.set()
        self._on_overflow(reason)

    async def take(self, max_items: int, max_bytes: int = 1 << 62) -> list[Item]:
        """Wait for at least one item, then return up to ``max_items`` in order.

        The batch stops before ``max_bytes`` (one item always goes, whatever its size), which
        bounds what one frame puts in flight. A backlog older than the age bound is conflated
        first, at most once per age period (a pass is linear in the queue).
        """
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        items = self._items
        if self._max_age_s:
            now = _monotonic()
            if now - items[0].born > self._max_age_s and now >= self._age_checked:
                self._age_checked = now + self._max_age_s
                self._relieve("age")
                items = self._items
        if len(items) <= max_items and self._bytes <= max_bytes:
            batch = list(items)
            items.clear()
            self._bytes = 0
        else:
            batch = []
            size = 0
            while items and len(batch) < max_items:
                n = len(items[0].text)
                if batch and size + n > max_bytes:
                    break
                batch.append(items.popleft())
                size += n
            self._bytes -= size
        if self._drain_waiters:
            for below, event in self._drain_waiters:
                if self._bytes <= below:
                    event.set()
        return batch

    async def wait_below(self, nbytes: int, timeout: float) -> bool:
        """Wait until at most ``nbytes`` are queued; False on timeout or overflow.

        Bulk producers (resume, ack-mode pulls) pace themselves with this instead of
        queueing faster than the client reads.
        """
        if self._bytes <= nbytes or self.overflowed:
            return not self.overflowed
        waiter = (nbytes, asyncio.Event())
        self._drain_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter[1].wait()
        except TimeoutError:
            return False
        finally:
            self._drain_waiters.remove(waiter)
        return not self.overflowed

    def clear(self) -> None:
        if self.overflowed:
            self.dropped += len(self._items)
        self._items.clear()
        self._bytes = 0
        for _, event in self._drain_waiters:
            event.set()
