"""``subscribe`` a K-line with ``"history": N``: N closed bars, then the live bars, seamless.

The member joined its channel with live messages held. The bars are read as REST reads them
(bridge/recovery/bars.py: the history stream merged with the K-line stream) as of one
``MD_KLINE`` position, ``upto``; every bar update after it is a held or later live message.
So the client gets the closed bars (``"history": true``), the forming bar as of ``upto``
(``"snapshot": true``), ``status recovered`` with ``mode: "history"`` and ``seq: upto``, and
then the held live updates after ``upto``: no bar missing at the seam, no update twice.
"""

from __future__ import annotations

import asyncio

import orjson
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bridge.core.channel import Membership
from bridge.core.frames import CLOCK, status_frame
from bridge.core.hub import Hub
from bridge.core.outbox import control_item, make_item
from bridge.recovery.bars import Bar, BarQuery, BarReader
from bridge.recovery.direct import DirectReader
from bridge.settings import BridgeSettings
from schemas import STREAM_BY_TYPE, DataType, StatusEvent

LIVE_STREAM = STREAM_BY_TYPE[DataType.KLINE]


class BarHistory:
    def __init__(
        self, nc: NatsClient, js: JetStreamContext, hub: Hub, settings: BridgeSettings
    ) -> None:
        self._js = js
        self._hub = hub
        self._reader = BarReader(DirectReader(nc), self._bounds)
        self._budget = settings.rest_history_max_scan
        self._slots = asyncio.Semaphore(settings.resume_concurrency)
        self.sent = 0

    async def _bounds(self, stream: str) -> tuple[int, int]:
        try:
            info = await self._js.stream_info(stream)
        except NotFoundError:  # the history streams are not provisioned (yet)
            return 1, 0
        return info.state.first_seq, info.state.last_seq

    async def send(self, member: Membership, count: int) -> int:
        """Queue ``count`` closed bars and the forming one, the notice, then release the hold.

        Returns how many closed bars were sent.
        """
        channel = member.channel
        period = channel.frequency
        query = BarQuery(channel.symbol, period, None, None, count + 1, self._budget)
        async with self._slots:
            series = await self._reader.series(query)
        bars = series.bars
        forming = bars[-1] if bars and not _closed(bars[-1]) else None
        closed = [bar for bar in bars if bar is not forming][-count:]
        stamp = CLOCK.now_iso()
        for bar in closed:
            subject, seq, broker_ms, payload = bar.stored
            extra = f',"history":true,"stream":"{bar.stream}"'
            text = channel.encode(subject, seq, broker_ms, payload.decode(), stamp, extra).text
            member.outbox.push(make_item(text, channel, 0, None, subject))  # not a live position
        if forming is not None:
            subject, seq, broker_ms, payload = forming.stored
            item = channel.encode(
                subject, seq, broker_ms, payload.decode(), stamp, ',"snapshot":true'
            )
            member.outbox.push(item)
        notice = status_frame(
            StatusEvent.RECOVERED,
            subscription_id=channel.key,
            recovered=not series.truncated,
            replayed=len(closed),
            seq=series.upto,
            epoch=self._hub.epoch_for(DataType.KLINE),
            mode="history",
            replay_complete=not series.truncated,
        )
        member.outbox.push(control_item(notice))
        member.release_hold({}, floor=series.upto)
        self.sent += len(closed)
        return len(closed)


def _closed(bar: Bar) -> bool:
    try:
        return bool(orjson.loads(bar.stored[3]).get("closed"))
    except (orjson.JSONDecodeError, AttributeError):
        return True  # unreadable: never presented as the forming bar
