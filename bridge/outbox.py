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


class Outbox:
    __slots__ = (
        "_bytes",
        "_items",
        "_max_bytes",
        "_on_conflated",
        "_wakeup",
        "dropped",
        "overflowed",
    )

    def __init__(self, max_bytes: int, on_conflated: Callable[[Any, int], None]) -> None:
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._wakeup = asyncio.Event()
        self._on_conflated = on_conflated
        self.overflowed = False
        self.dropped = 0  # items discarded after an overflow (the connection is closing)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

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
            self.overflowed = True

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
        return batch

    def clear(self) -> None:
        if self.overflowed:
            self.dropped += len(self._items)
        self._items.clear()
        self._bytes = 0
