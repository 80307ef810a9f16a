"""Slow-consumer notices: count what a connection's outbox conflated and tell the client,
ahead of the data it holds, at most once per ``slow_consumer_notice_s``.

A part the session holds; it owns its counters and timer, reads the session's memberships and
puts the notice at the front of the session's queue (``push_first``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from bridge.core.channel import Channel, Membership
from bridge.core.frames import status_frame
from schemas import StatusEvent


class ConflationNotices:
    def __init__(
        self,
        memberships: Mapping[str, Membership],
        push_first: Callable[[str], None],
        period_s: float,
        queue_max_bytes: int,
        queue_max_age_ms: float,
    ) -> None:
        self.total = 0  # messages conflated on this connection, for the connection book
        self._memberships = memberships
        self._push_first = push_first
        self._period_s = period_s
        self._queue_max_bytes = queue_max_bytes
        self._queue_max_age_ms = queue_max_age_ms
        self._pending: dict[str, int] = {}
        self._reason = ""
        self._notice_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def on_conflated(self, dropped: dict[Any, int], reason: str) -> None:
        """The outbox's callback: queued messages of these channels were replaced, because the
        queue was too old (``age``) or too large (``bytes``).

        The first notice goes at once (the outbox is still conflating, so it precedes the
        conflated data); later ones when the period ends, counting everything in between.
        """
        for channel, count in dropped.items():
            self.total += count
            member = self._memberships.get(channel.key) if isinstance(channel, Channel) else None
            if member is None:
                continue
            member.dropped += count
            self._pending[channel.key] = self._pending.get(channel.key, 0) + count
        self._reason = reason
        if self._timer is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        delay = self._notice_at + self._period_s - loop.time()
        if delay <= 0:
            self._notify()
        else:  # one notice per period, not one per conflation
            self._timer = loop.call_later(delay, self._notify)

    def _notify(self) -> None:
        self._timer = None
        self._notice_at = asyncio.get_running_loop().time()
        conflated, self._pending = self._pending, {}
        self._push_first(
            status_frame(
                StatusEvent.SLOW_CONSUMER,
                action="conflated",
                reason=self._reason,
                conflated=conflated,
                dropped_total={k: m.dropped for k, m in self._memberships.items() if m.dropped},
                queue_max_bytes=self._queue_max_bytes,
                queue_max_age_ms=self._queue_max_age_ms,
            )
        )

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
