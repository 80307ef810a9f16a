"""The simulator as a data source: the symbol directory, then every symbol on its own cadence."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from schemas import KLINE_PERIODS, DataType, SymbolInfo, data_subject
from schemas.history import DAY_PERIOD
from schemas.subjects import symbol_status_subject
from schemas.timefmt import SHANGHAI
from services.adapter import SourceStatus
from services.calendar import TradingCalendar, day_to_date, shanghai_day
from services.directory import directory_entry
from services.history import HistoryWriter, backfill, daily_history
from services.holidays import local_holidays
from services.kline import KLineAggregator, quote_bars
from services.msgid import depth_id, quote_id, trade_id
from services.publisher import Publisher
from services.settings import AdapterSettings
from services.sim.clock import SimClock, start_instant
from services.sim.market import SymbolMarket
from services.sim.universe import build_universe
from services.symbolstatus import SymbolStatusTracker

logger = logging.getLogger(__name__)

YIELD_EVERY = 64  # snapshots between forced yields, so acks and heartbeats keep flowing
ERROR_BACKOFF_S = 1.0  # after a failed publish (NATS away): pause instead of spinning
LAG_WARNING_EVERY_S = 10.0
BELL_WINDOW_S = 1.0  # sim seconds in which every symbol shows itself after a phase change
_SHORT_SLEEP_S = 0.02  # below this a plain sleep; above, a wait that stop can cut short


@dataclass(slots=True)
class _Feed:
    """One symbol: its price process, its bars and its subjects (built once, not per message)."""

    market: SymbolMarket
    klines: KLineAggregator
    quote_subject: str
    depth_subject: str
    trade_subject: str
    kline_subjects: dict[str, str]


class SimAdapter:
    """A realistic A-share market from a seed: quotes, 5-level depth, trades and K-lines."""

    def __init__(self, settings: AdapterSettings) -> None:
        self.source_id = settings.source_id
        self.ready = asyncio.Event()
        self.snapshots = 0
        self._settings = settings
        self._clock = self._new_clock()
        today = day_to_date(shanghai_day(self._clock.now_ms()))
        self._universe = build_universe(settings.sim_seed, settings.sim_symbols, today=today)
        self._paused_until = 0.0
        self._symbol_status = SymbolStatusTracker()
        self._history: HistoryWriter | None = None

    def _new_clock(self) -> SimClock:
        settings = self._settings
        calendar = TradingCalendar.of(local_holidays(settings.sim_holidays))
        return SimClock(
            settings.sim_speed,
            start_instant(settings.sim_start, calendar),
            session=settings.sim_session,
            calendar=calendar,
        )

    @property
    def universe(self) -> list[SymbolInfo]:
        return self._universe

    def status(self) -> SourceStatus:
        return {"phase": self._clock.phase().value, "symbols": len(self._universe)}

    async def run(self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event) -> None:
        feeds = [self._feed(info) for info in self._universe]
        for info in self._universe:
            await publisher.publish(*directory_entry(info))
        await publisher.flush()
        self._clock = self._new_clock()  # sim_start is when the data starts, not construction
        self._history = HistoryWriter(publisher)
        history = asyncio.create_task(self._backfill(js, publisher, self._history))
        logger.info(
            "sim: %d symbols, speed %g, %s session, every %g s",
            len(feeds),
            self._settings.sim_speed,
            self._settings.sim_session,
            self._settings.sim_interval_s,
        )
        self.ready.set()
        try:
            await self._schedule(feeds, publisher, stop)
        finally:
            history.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await history

    async def _backfill(
        self, js: JetStreamContext, publisher: Publisher, writer: HistoryWriter
    ) -> None:
        """The universe's past daily bars (generated), beside the live data; then the live
        closed bars the writer held meanwhile."""
        settings = self._settings
        today = datetime.fromtimestamp(self._clock.now_ms() / 1000, SHANGHAI).date()
        days = settings.history_backfill_days
        calendar = TradingCalendar.of(settings.sim_holidays)

        def series() -> Iterator[tuple[str, Iterator[tuple[int, dict[str, Any]]]]]:
            for info in self._universe:
                bars = daily_history(
                    info, today, days, seed=settings.sim_seed, calendar=calendar,
                    source=settings.source_id,
                )  # fmt: skip
                yield info.symbol, bars

        try:
            if days > 0:
                await backfill(
                    js, publisher, DAY_PERIOD, series(),
                    progress_every=settings.history_progress_every,
                )  # fmt: skip
        except NatsError as exc:
            logger.warning("sim history backfill failed: %r", exc)
        try:  # not on cancellation: the sim is stopping
            await writer.backfilled()
        except NatsError as exc:
            logger.warning("storing the bars held during the backfill failed: %r", exc)

    def _feed(self, info: SymbolInfo) -> _Feed:
        settings = self._settings
        symbol = info.symbol
        return _Feed(
            market=SymbolMarket(
                info,
                seed=settings.sim_seed,
                source=settings.source_id,
                interval_s=settings.sim_interval_s,
            ),
            klines=KLineAggregator(
                symbol,
                settings.source_id,
                session_rules=settings.sim_session == "real",
                tick_periods=settings.kline_tick_periods,
            ),
            quote_subject=data_subject(DataType.QUOTE, symbol),
            depth_subject=data_subject(DataType.DEPTH, symbol),
            trade_subject=data_subject(DataType.TRADE, symbol),
            kline_subjects={p: data_subject(DataType.KLINE, symbol, p) for p in KLINE_PERIODS},
        )

    async def _schedule(
        self, feeds: list[_Feed], publisher: Publisher, stop: asyncio.Event
    ) -> None:
        """One loop over a heap of (due, symbol): staggered, each symbol every interval.

        At a phase change of the real session (a bell: 09:15, 09:25, 09:30, 13:00, 14:57,
        15:00...) every symbol steps within the bell's first sim second, as the exchange's
        first snapshot after it shows the whole market: the 09:25 auction results, the 09:30
        burst. Each symbol then rejoins its own staggered slot.
        """
        loop = asyncio.get_running_loop()
        clock = self._clock
        period = clock.wall_seconds(self._settings.sim_interval_s)
        window = clock.wall_seconds(BELL_WINDOW_S)
        start = loop.time()
        count = len(feeds)
        heap = [(start + period * i / count, i) for i in range(count)]  # sorted: a valid heap
        rejoin: dict[int, float] = {}  # after its bell step, a symbol's next regular slot
        bell_ms = clock.next_bell_ms(clock.at(start))
        bell_at = math.inf if bell_ms is None else clock.mono_of(bell_ms)
        since_yield = 0
        warned_at = 0.0
        while not stop.is_set():
            due, index = heap[0]
            if due >= bell_at and bell_ms is not None:
                heap, rejoin = _ring(heap, bell_at, window, period)
                bell_ms = clock.next_bell_ms(bell_ms)
                bell_at = math.inf if bell_ms is None else clock.mono_of(bell_ms)
                continue
            now = loop.time()
            if due > now:
                await _sleep(min(due, bell_at) - now, stop)
                continue
            # When behind, skip rather than burst: the next snapshot supersedes a missed one.
            regular = rejoin.pop(index, due + period)
            heapq.heapreplace(heap, (max(regular, now), index))
            if now - due > period and now - warned_at > LAG_WARNING_EVERY_S:
                warned_at = now
                logger.warning("sim is %.1f s behind its schedule; skipping snapshots", now - due)
            if now < self._paused_until:
                continue
            try:
                await self._emit(feeds[index], clock.at(due), publisher)
            except NatsError as exc:
                logger.warning("publish failed (%r); pausing %.0f s", exc, ERROR_BACKOFF_S)
                self._paused_until = now + ERROR_BACKOFF_S
            since_yield += 1
            if since_yield >= YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)

    async def _emit(self, feed: _Feed, ts_ms: int, publisher: Publisher) -> None:
        """Step one symbol to ``ts_ms`` and publish what it shows."""
        market = feed.market
        phase = self._clock.phase_at_ms(ts_ms)
        snapshot = market.step(ts_ms, phase)
        rolled = market.pop_info_update()
        if rolled is not None:  # a new day: new prev_close and limits in the directory
            await publisher.publish(*directory_entry(rolled))
        if snapshot is None:
            return
        symbol = market.symbol
        quote = snapshot.quote
        await publisher.publish(feed.quote_subject, quote, quote_id(symbol, ts_ms))
        if not market.bookless:  # an index has a level, not a book or trades
            await publisher.publish(feed.depth_subject, snapshot.depth, depth_id(symbol, ts_ms))
            for trade in snapshot.trades:
                await publisher.publish(
                    feed.trade_subject, trade, trade_id(symbol, trade["trade_id"])
                )
        for status, msg_id in self._symbol_status.update(quote, ts_ms):
            await publisher.publish(symbol_status_subject(symbol), status, msg_id)
        for event in quote_bars(feed.klines, ts_ms, quote, phase):
            await publisher.publish(
                feed.kline_subjects[event.period], event.payload, event.msg_id()
            )
            if event.closed and self._history is not None:
                await self._history.closed_bar(event.period, event.start_ms, event.payload)
        self.snapshots += 1


def _ring(
    heap: list[tuple[float, int]], bell_at: float, window: float, period: float
) -> tuple[list[tuple[float, int]], dict[int, float]]:
    """The schedule for a bell: every symbol due within ``window`` of ``bell_at``, and for each
    the regular slot it rejoins after (its current one, or the next when that is too close)."""
    count = len(heap)
    bells = [(bell_at + window * i / count, i) for i in range(count)]  # sorted: a valid heap
    rejoin = {
        index: due if due - bells[index][0] >= period / 2 else due + period for due, index in heap
    }
    return bells, rejoin


async def _sleep(delay: float, stop: asyncio.Event) -> None:
    """Sleep ``delay`` seconds, or less if ``stop`` is set meanwhile."""
    if delay < _SHORT_SLEEP_S:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
