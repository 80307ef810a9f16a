"""A connection's bounded send queue: byte-bounded, conflating, drained by one writer.

The fan-out only ever calls :meth:`Outbox.push` (never awaits a socket); the connection's
writer task takes everything queued at once and sends it as one frame. When the queue
passes its byte bound, conflatable items (quotes, depth) keep only the newest per key;
if it is still over, the connection is a slow consumer and must be closed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

# (frame text, channel or None, stream seq, conflation key or None, subject); one tuple is
# shared by every member of a channel.
Item = tuple[str, Any, int, Hashable | None, str]


def _ignore(reason: str) -> None:
    return None


class Outbox:
    __slots__ = (
        "_bytes",
        "_drain_waiters",
        "_items",
        "_max_bytes",
        "_on_conflated",
        "_on_overflow",
        "_wakeup",
        "dropped",
        "overflow_reason",
        "overflowed",
    )

    def __init__(
        self,
        max_bytes: int,
        on_conflated: Callable[[Any, int], None],
        on_overflow: Callable[[str], None] = _ignore,
    ) -> None:
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._wakeup = asyncio.Event()
        self._on_conflated = on_conflated
        self._on_overflow = on_overflow
        self._drain_waiters: list[tuple[int, asyncio.Event]] = []
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

    def push(self, item: Item) -> None:
        if self.overflowed:
            self.dropped += 1
            return
        self._items.append(item)
        self._bytes += len(item[0])
        if self._bytes > self._max_bytes:
            self._relieve()
        self._wakeup.set()

    def _relieve(self) -> None:
        """Keep only the newest item per conflation key; overflow if that is not enough."""
        seen: set[Hashable] = set()
        kept: deque[Item] = deque()
        dropped: dict[Any, int] = {}
        for item in reversed(self._items):
            key = item[3]
            if key is not None:
                if key in seen:
                    dropped[item[1]] = dropped.get(item[1], 0) + 1
                    continue
                seen.add(key)
            kept.appendleft(item)
        self._items = kept
        self._bytes = sum(len(item[0]) for item in kept)
        for channel, count in dropped.items():
            self._on_conflated(channel, count)
        if self._bytes > self._max_bytes:
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

    async def take(self, max_items: int) -> list[Item]:
        """Wait for at least one item, then return up to ``max_items`` in order."""
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        items = self._items
        if len(items) <= max_items:
            batch = list(items)
            items.clear()
            self._bytes = 0
        else:
            batch = [items.popleft() for _ in range(max_items)]
            self._bytes -= sum(len(item[0]) for item in batch)
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
