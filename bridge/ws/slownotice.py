"""Slow-consumer notices: count what a connection's outbox conflated, tell the client at most
once per ``slow_consumer_notice_s``.

A part the session holds; it owns its counters and timer, reads the session's memberships and
sends through the session's ``push_frame``.
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
        push_frame: Callable[[str], None],
        period_s: float,
        queue_max_bytes: int,
    ) -> None:
        self.total = 0  # messages conflated on this connection, for the connection book
        self._memberships = memberships
        self._push_frame = push_frame
        self._period_s = period_s
        self._queue_max_bytes = queue_max_bytes
        self._pending: dict[str, int] = {}
        self._notice_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def on_conflated(self, channel: Any, count: int) -> None:
        """The outbox's callback: ``count`` queued messages of ``channel`` were replaced."""
        member = self._memberships.get(channel.key) if isinstance(channel, Channel) else None
        self.total += count
        if member is None:
            return
        member.dropped += count
        self._pending[channel.key] = self._pending.get(channel.key, 0) + count
        if self._timer is None:  # one notice per period, not one per conflation
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._notice_at + self._period_s - loop.time())
            self._timer = loop.call_later(delay, self._notify)

    def _notify(self) -> None:
        self._timer = None
        self._notice_at = asyncio.get_running_loop().time()
        conflated, self._pending = self._pending, {}
        self._push_frame(
            status_frame(
                StatusEvent.SLOW_CONSUMER,
                action="conflated",
                conflated=conflated,
                dropped_total={k: m.dropped for k, m in self._memberships.items() if m.dropped},
                queue_max_bytes=self._queue_max_bytes,
            )
        )

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
