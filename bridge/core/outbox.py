"""A connection's bounded send queue: bounded by bytes and by age, conflating, one writer.

The fan-out only ever calls :meth:`Outbox.push` (never awaits a socket); the connection's
writer task takes what is queued and sends it as one frame. Two bounds keep what a slow
reader gets fresh and what it costs small:

* age: when the writer takes from a queue whose oldest item is older than ``max_age_s``,
  conflatable items (quotes, depth) keep only the newest per key, so the reader gets the
  latest value rather than every value late;
* bytes: past ``max_bytes`` the same conflation runs at once; if the queue is still over,
  the connection is a slow consumer and must be closed (trades and klines end up here).

A connection that can write frames synchronously (:meth:`Outbox.go_direct`) is not woken per
item: a push marks its outbox in the process's :class:`Flusher`, which, once the current
callback is done (a whole read from NATS fanned out), has each marked outbox written at once.
Only when that cannot be done (the socket's buffer is full, a send is in progress) is the
writer task woken, and it waits for the socket before it takes from the queue, so what waits
stays here, where it can be conflated.

Each conflation is reported once, with the count per channel, so the owner can tell the
client *ahead* of the data (:meth:`push_first`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

logger = logging.getLogger(__name__)

_monotonic = time.monotonic
_perf = time.perf_counter
MIN_WAIT_S = 0.0002  # a shorter pause is not worth a timer: the round starts at once


class Item:
    """One queued frame; one Item is shared by every member of a channel, so it is never
    changed after it is made (:meth:`with_text` makes another).

    A slotted class rather than a NamedTuple: CPython 3.11+ specialises attribute loads on
    slots but not indexing a tuple subclass, and the per-delivery path reads every item
    (scripts/bench_hotpath.py: 262-266 ns a delivery as a NamedTuple, see docs/benchmarks.md).
    """

    __slots__ = ("born", "channel", "conflate_key", "frame", "seq", "subject", "text")

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
        # the WebSocket frame of ``text``, built by the first member's writer and reused by
        # the others (derived from ``text``, so sharing it keeps the item unchanged in effect)
        self.frame: bytes | None = None

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


class Flusher:
    """Writes every outbox marked since the last round, in one round.

    One scheduled call per round for the whole process, instead of one task wake-up per
    connection per item: a fan-out of one NATS read to a thousand connections costs a
    thousand direct writes, not a thousand task switches.

    A round starts right after the callback that marked the first outbox, unless the previous
    round was long: then it waits as long as that round took (at most ``pace_max_s``), so
    writing takes at most about half of the event loop while the rest reads and fans out, and
    under load each write carries more messages (fewer ``send`` calls per message) instead of
    the bridge falling behind one write per message. Calm, a round takes microseconds and
    nothing waits. ``linger_s`` is a fixed floor on the wait (0: none).
    """

    __slots__ = ("_dirty", "_last_s", "_linger_s", "_pace_max_s")

    def __init__(self, linger_s: float = 0.0, pace_max_s: float = 0.0) -> None:
        self._dirty: list[Outbox] = []
        self._linger_s = linger_s
        self._pace_max_s = pace_max_s
        self._last_s = 0.0  # how long the previous round took

    def mark(self, outbox: Outbox) -> None:
        if not self._dirty:
            wait = max(self._linger_s, min(self._last_s, self._pace_max_s))
            if wait >= MIN_WAIT_S:
                asyncio.get_running_loop().call_later(wait, self._flush)
            else:
                asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(outbox)

    def _flush(self) -> None:
        began = _perf()
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()
        self._last_s = _perf() - began


class Outbox:
    __slots__ = (
        "_age_checked",
        "_bytes",
        "_direct",
        "_drain_waiters",
        "_flusher",
        "_items",
        "_max_age_s",
        "_max_bytes",
        "_on_conflated",
        "_on_overflow",
        "_pending",
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
        self._direct: Callable[[], bool] | None = None
        self._flusher: Flusher | None = None
        self._pending = False  # marked in the flusher, not yet flushed
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

    def go_direct(self, write: Callable[[], bool], flusher: Flusher) -> None:
        """Have ``write`` send what is queued, synchronously, after each batch of pushes.

        ``write`` returns False when it could not empty the queue; the writer task (waiting
        in :meth:`take`) is woken then.
        """
        self._direct = write
        self._flusher = flusher

    def stop_direct(self) -> None:
        """Back to waking the writer task for every push (the connection is closing)."""
        self._direct = None
        self._wakeup.set()

    def flush(self) -> None:
        """The flusher's call: write directly, else wake the writer task."""
        self._pending = False
        if not self._items:
            return
        direct = self._direct
        if direct is None:
            self._wakeup.set()
            return
        try:
            done = direct()
        except Exception:
            # once, not per round: from now on the writer task writes for this connection
            logger.exception("direct write failed; the writer task takes over")
            self._direct = None
            done = False
        if not done:
            self._wakeup.set()

    def _wake(self) -> None:
        if self._direct is None:
            self._wakeup.set()
        elif not self._pending:
            self._pending = True
            self._flusher.mark(self)  # type: ignore[union-attr]  # set with _direct

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
        if self._direct is None:
            self._wakeup.set()
        elif not self._pending:  # inlined _wake: this runs for every delivery
            self._pending = True
            self._flusher.mark(self)  # type: ignore[union-attr]  # set with _direct

    def push_first(self, item: Item) -> None:
        """Queue ahead of everything: notices about the connection itself jump the queue."""
        if self.overflowed:
            self.dropped += 1
            return
        self._items.appendleft(item)
        self._bytes += len(item.text)
        self._wake()

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

    async def wait(self) -> None:
        """Until something is queued (or the queue failed)."""
        while not self._items and not self.overflowed:
            self._wakeup.clear()
            await self._wakeup.wait()

    async def take(self, max_items: int, max_bytes: int = 1 << 62) -> list[Item]:
        """Wait for at least one item, then :meth:`take_now`."""
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        return self.take_now(max_items, max_bytes)

    def take_now(self, max_items: int, max_bytes: int = 1 << 62) -> list[Item]:
        """Up to ``max_items`` queued items in order; [] when none.

        The batch stops before ``max_bytes`` (one item always goes, whatever its size), which
        bounds what one frame puts in flight. A backlog older than the age bound is conflated
        first, at most once per age period (a pass is linear in the queue).
        """
        items = self._items
        if not items:
            return []
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
