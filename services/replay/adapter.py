"""Replay as a data source: a recording republished with its original timing.

Each message keeps its subject, payload and headers (``Nats-Msg-Id`` included), so a replay
into a stream that saw the original within its duplicate window adds nothing, and a replay
elsewhere reproduces it exactly. Timing follows the recorded broker timestamps, divided by
the speed (``max``: as fast as the broker acks). Source heartbeats in the recording are not
replayed: the runner announces the replay itself. A recording without bars gets bars derived
from its quotes, as the simulator and xtquant derive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import orjson
from nats.js import JetStreamContext

from schemas import DataType, TradingPhase, data_subject
from services.adapter import SourceStatus
from services.history import HistoryWriter
from services.kline import KLineAggregator, quote_bars, relabel_start_labelled
from services.publisher import Publisher
from services.replay.recording import Record, read_recording
from services.settings import AdapterSettings

logger = logging.getLogger(__name__)

_QUOTE = "md.quote."
_KLINE = "md.kline."
_STATUS = "md.status."
_SHORT_SLEEP_S = 0.001


def parse_speed(speed: str) -> float | None:
    """``"10x"`` → 10.0; ``"max"`` → None (no waiting)."""
    if speed == "max":
        return None
    value = float(speed.removesuffix("x"))
    if value <= 0:
        raise ValueError("speed must be positive")
    return value


def is_source_status(subject: str) -> bool:
    """``md.status.<source>`` (one token): a heartbeat of the recorded source."""
    return subject.startswith(_STATUS) and "." not in subject[len(_STATUS) :]


class ReplayAdapter:
    def __init__(self, settings: AdapterSettings) -> None:
        if settings.replay_file is None:
            raise ValueError("replay needs a recording: set replay_file (mdbridge replay FILE)")
        self.source_id = settings.source_id
        self.ready = asyncio.Event()
        self._settings = settings
        self._path = settings.replay_file
        self._speed = parse_speed(settings.replay_speed)
        self._bars: dict[str, KLineAggregator] = {}
        self._symbols: set[str] = set()
        self._phase = TradingPhase.UNKNOWN.value
        self._history: HistoryWriter | None = None
        self.replayed = 0

    def status(self) -> SourceStatus:
        return {"phase": self._phase, "symbols": len(self._symbols), "received": self.replayed}

    def _derives_bars(self) -> bool:
        mode = self._settings.replay_klines
        if mode != "auto":
            return mode == "derive"
        with read_recording(self._path) as (_, records):
            return not any(r.subject.startswith(_KLINE) for r in records)

    async def run(self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event) -> None:
        derive = await asyncio.to_thread(self._derives_bars)  # a pass over the file
        self._history = HistoryWriter(publisher)
        await self._history.backfilled()  # no backfill: the recording's final bars go through
        loop = asyncio.get_running_loop()
        with read_recording(self._path) as (header, records):
            started_ns = int(header.get("started_ns", 0))
            logger.info(
                "replaying %s at %s%s",
                self._path,
                self._settings.replay_speed,
                ", deriving bars from its quotes" if derive else "",
            )
            origin: tuple[float, int] | None = None  # (loop time, recorded ns) of the first
            for record in records:
                if stop.is_set():
                    break
                if record.t_ns >= started_ns and self._speed is not None:
                    if origin is None:
                        origin = (loop.time(), record.t_ns)
                    due = origin[0] + (record.t_ns - origin[1]) / 1e9 / self._speed
                    await _sleep_until(loop, due, stop)
                    if stop.is_set():
                        break
                self.ready.set()
                await self._replay(record, publisher, derive)
                self.replayed += 1
        self.ready.set()
        await publisher.flush()
        logger.info("replay of %s done: %d messages", self._path, self.replayed)

    async def _replay(self, record: Record, publisher: Publisher, derive: bool) -> None:
        subject = record.subject
        if is_source_status(subject) or (derive and subject.startswith(_KLINE)):
            return
        data = record.data
        if subject.startswith(_KLINE):
            bar = orjson.loads(data)
            if relabel_start_labelled(bar, session_rules=self._settings.calendar == "real"):
                data = orjson.dumps(bar)  # an older recording: labelled as bars are now
        await publisher.publish_raw(subject, data, record.headers)
        if subject.startswith(_KLINE):
            await self._keep_if_final(orjson.loads(data))
        elif subject.startswith(_QUOTE):
            quote = orjson.loads(record.data)
            self._symbols.add(quote["symbol"])
            self._phase = quote["phase"]
            if derive:
                await self._derive(quote, publisher)

    async def _derive(self, quote: dict[str, Any], publisher: Publisher) -> None:
        symbol = quote["symbol"]
        bars = self._bars.get(symbol)
        if bars is None:
            bars = self._bars[symbol] = KLineAggregator(
                symbol,
                quote["source"],
                session_rules=self._settings.calendar == "real",
                tick_periods=self._settings.kline_tick_periods,
            )
        ts_ms = round(datetime.fromisoformat(quote["timestamp"]).timestamp() * 1000)
        for event in quote_bars(bars, ts_ms, quote, TradingPhase(quote["phase"])):
            subject = data_subject(DataType.KLINE, symbol, event.period)
            await publisher.publish(subject, event.payload, event.msg_id())
            if event.closed and self._history is not None:
                await self._history.closed_bar(event.period, event.start_ms, event.payload)

    async def _keep_if_final(self, bar: dict[str, Any]) -> None:
        """A recorded final bar goes to the history stream too, as the live source did."""
        if bar.get("closed") is True and self._history is not None:
            start_ms = round(datetime.fromisoformat(bar["timestamp"]).timestamp() * 1000)
            await self._history.closed_bar(bar["period"], start_ms, bar)


async def _sleep_until(loop: asyncio.AbstractEventLoop, due: float, stop: asyncio.Event) -> None:
    delay = due - loop.time()
    if delay <= _SHORT_SLEEP_S:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
