"""The xtquant (MiniQMT) adapter: the real A-share feed of a Windows host, into JetStream.

- Universe: ``xt_symbols``, or the sectors' members (``download_sector_data`` first: a fresh
  terminal has no sector lists, then ``get_stock_list_in_sector``); each one's
  ``get_instrument_detail`` (previous close, limit prices) and ``get_instrument_type`` (index,
  ETF, ...) become its directory entry (KV ``md_symbols``).
- After subscribing, ``get_full_tick`` of every instrument is published: a halted one, which
  pushes nothing, has a quote from the start.
- Up to ``xt_single_max`` symbols subscribe one by one (ticks, and xtquant's own bars and
  Level-2 when asked); more use the whole-market push (``subscribe_whole_quote``), whose bars
  and trades are derived from the ticks.
- The link: subscriptions die with the xtdata client, so a ``disconnected`` status means
  reconnect (with backoff) and subscribe again; a feed silent for ``xt_silence_s`` while the
  market trades is resubscribed, and reconnected if that does not help.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from processkit.backoff import Backoff
from schemas import KLINE_PERIODS, DataType, Kind, SymbolInfo, TradingPhase, data_subject
from schemas.subjects import symbol_status_subject
from services.adapter import SourceStatus
from services.calendar import (
    DAY_MS,
    SHANGHAI_OFFSET_MS,
    TRADING_PHASES,
    Calendar,
    TradingCalendar,
    calendar_for,
    shanghai_day,
)
from services.directory import directory_entry
from services.errors import SourceError
from services.history import HistoryWriter
from services.holidays import calendar_bucket, local_holidays
from services.kline import KLineAggregator, KLineEvent, quote_bars
from services.msgid import depth_id, quote_id, trade_id
from services.publisher import Publisher
from services.settings import AdapterSettings
from services.symbolstatus import SymbolStatusTracker
from services.trades import TradeDeriver
from services.xtquant.bars import SourceBars
from services.xtquant.history import backfill_history
from services.xtquant.holidays import TerminalHolidays
from services.xtquant.inbox import Batch, Inbox
from services.xtquant.link import L2QUOTE, L2TRANSACTION, TICK, Plan, XtLink
from services.xtquant.normalize import Normalizer, symbol_info

logger = logging.getLogger(__name__)

POLL_S = 0.25  # how often the loop looks at the link, silence and the clock when idle
FIRST_RETRY_S = 1.0
DIRECTORY_REFRESH_MS = (9 * 60 + 10) * 60_000  # a new day's limits are known by 09:10
SESSION_END_GRACE_MS = 60_000  # bars still open a minute after the close are finalized
# Silence is a fault while quotes must change; 09:25-09:30 and the lunch break are quiet.
_WATCHED_PHASES = TRADING_PHASES - {TradingPhase.PRE_CONTINUOUS}


@dataclass(slots=True)
class _Symbol:
    """Per-symbol subjects (built once) and state."""

    quote: str
    depth: str
    trade: str
    klines: dict[str, str]
    bars: KLineAggregator | None
    index: bool = False  # a level, not a book: no depth, no trades
    last_ts: int = 0


@dataclass(slots=True)
class _Link:
    """Health of the MiniQMT link, as the loop sees it."""

    down: bool = True
    detail: str = "not connected yet"
    retry_at: float = 0.0
    attempt: int = 0  # failed connects in a row: picks the wait before the next
    watched_since: float = field(default_factory=time.monotonic)  # silence counts from here
    strikes: int = 0  # silent periods in a row


class XtQuantAdapter:
    def __init__(
        self, settings: AdapterSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock  # wall-clock seconds: the calendar's "now" (a test sets a day)
        self.source_id = settings.source_id
        self.ready = asyncio.Event()
        self._settings = settings
        self._calendar = calendar_for(settings.calendar, local_holidays(settings.holidays))
        self._holidays = TerminalHolidays(settings.holidays)
        self._norm = Normalizer(settings.source_id, self._calendar, bar_label=settings.xt_bar_label)
        self._symbols: dict[str, _Symbol] = {}
        self._status_events = SymbolStatusTracker()
        self._deriver = TradeDeriver()
        self._source_bars = SourceBars()
        self._plan = Plan()
        self._derive_bars = True
        self._l2_depth: set[str] = set()  # symbols whose Level-2 book has arrived
        self._l2_trades: set[str] = set()
        self._link_state = _Link()
        # one adapter reconnecting to its own MiniQMT: the plain doubling schedule, no jitter
        self._retry = Backoff(FIRST_RETRY_S, settings.xt_reconnect_max_s, jitter=False)
        self._directory_day = -1
        self._open_day = -1  # the last day this process saw the market trading
        self._closed_day = -1
        self._inbox: Inbox | None = None
        self._xt: XtLink | None = None
        self._calendar_kv: KeyValue | None = None
        self._js: JetStreamContext | None = None
        self._history: HistoryWriter | None = None
        self._backfills: set[asyncio.Task[None]] = set()
        self._backfilled = False  # the start-up backfill has been started
        self.ticks = 0
        self.stale = 0  # repeated or older ticks dropped
        self.resubscribes = 0
        self.reconnects = 0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def calendar(self) -> Calendar:
        """The calendar in force: the terminal's holidays once it gave them."""
        return self._calendar

    def status(self) -> SourceStatus:
        link = self._link_state
        status: SourceStatus = {
            "phase": self._calendar.phase_at_ms(self._now_ms()).value,
            "symbols": len(self._symbols),
            "healthy": not link.down and link.strikes == 0,
            "received": self._inbox.received if self._inbox is not None else 0,
        }
        if link.down or link.strikes:
            status["detail"] = link.detail
        return status

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event) -> None:
        self._inbox = inbox = Inbox(
            asyncio.get_running_loop(), max_items=self._settings.xt_inbox_max
        )
        self._xt = XtLink(
            inbox, self._on_link_status, host=self._settings.xt_host, port=self._settings.xt_port
        )
        policy = self._settings.stream_policy()
        self._calendar_kv = await calendar_bucket(js, policy.storage, policy.replicas)
        self._js, self._history = js, HistoryWriter(publisher)
        try:
            while not stop.is_set():
                if self._link_state.down:
                    await self._try_connect(publisher)
                if not self._link_state.down:
                    self.ready.set()
                if await inbox.wait(POLL_S):
                    await self._process(inbox.take(), publisher)
                await self._supervise(publisher)
        finally:
            for task in self._backfills:
                task.cancel()
            await asyncio.gather(*self._backfills, return_exceptions=True)
            await self._xt.close()

    def _on_link_status(self, status: str) -> None:
        """xtquant's ``watch_xtquant_status`` (via the loop): only ``disconnected`` matters."""
        logger.info("xtquant link: %s", status)
        if status == "disconnected" and not self._link_state.down:
            self._fail("MiniQMT link disconnected")

    def _fail(self, detail: str) -> None:
        link = self._link_state
        link.down, link.detail = True, detail
        link.retry_at = time.monotonic() + self._retry.delay(link.attempt)

    async def _try_connect(self, publisher: Publisher) -> None:
        """One attempt (when due) to connect, load the directory once, and subscribe."""
        link, xt = self._link_state, self._opened_link()
        now = time.monotonic()
        if now < link.retry_at:
            return
        try:
            await xt.connect()
            holidays = await self._holidays.load(xt, self._calendar_kv)
            if holidays is not None and self._settings.calendar == "real":
                self._calendar = self._norm.calendar = TradingCalendar.of(holidays)
            if not self._symbols:
                await self._load_directory(publisher)
            failed = await xt.subscribe(self._plan)
            snapshot = await xt.full_tick(self._symbols)
        except SourceError:
            raise  # no SDK on this host: retrying will not install it
        except Exception as exc:  # the SDK raises bare Exceptions (不能连接, 行情服务连接断开)
            delay = self._retry.delay(link.attempt)
            link.retry_at = now + delay
            logger.warning("xtquant: %s; retrying in %.0f s", exc, delay)
            link.detail = f"cannot reach MiniQMT: {exc}"
            link.attempt += 1
            return
        if failed:
            logger.warning("xtquant: %d subscriptions refused", failed)
        await self._publish_snapshot(snapshot, publisher)
        self.reconnects += 1
        link.down, link.detail, link.attempt, link.strikes = False, "", 0, 0
        link.watched_since = time.monotonic()
        logger.info("xtquant: subscribed %d symbols (%s)", len(self._symbols), self._mode())
        if not self._backfilled:
            self._backfilled = True
            self._start_backfill(publisher)

    def _start_backfill(self, publisher: Publisher) -> None:
        """Daily history in the background: live data flows meanwhile (services/xtquant/history)."""
        task = asyncio.create_task(self._backfill(publisher), name="xtquant-history")
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _backfill(self, publisher: Publisher) -> None:
        settings, xt, js, writer = self._settings, self._xt, self._js, self._history
        if xt is None or js is None or writer is None:
            raise RuntimeError("history backfill before the adapter started")
        try:
            await backfill_history(
                xt, self._norm, js, publisher, list(self._symbols),
                daily_days=settings.history_backfill_days,
                minute_days=min(settings.xt_history_minute_days, settings.history_minute_days),
                chunk=settings.history_progress_every,
                now_ms=int(time.time() * 1000),
            )  # fmt: skip
        except Exception as exc:  # the SDK raises bare Exceptions; NATS may be away
            logger.warning("xtquant history backfill failed: %s", exc)
        try:  # not on cancellation: the adapter is stopping
            await writer.backfilled()
        except NatsError as exc:
            logger.warning("storing the bars held during the backfill failed: %r", exc)

    async def _publish_snapshot(self, ticks: dict[str, Any], publisher: Publisher) -> None:
        """Every instrument's current tick, taken after subscribing: a halted one (no pushes)
        has a quote too, and pushes of the same tick that follow are dropped as repeats."""
        try:
            for symbol, raw in ticks.items():
                if isinstance(raw, dict):
                    await self._on_tick(symbol, raw, publisher)
        except NatsError as exc:  # NATS away: the runner reconnects; the pushes follow
            logger.warning("publishing the snapshot failed: %r", exc)
        logger.info("xtquant: initial snapshot of %d instruments", len(ticks))

    def _mode(self) -> str:
        return "whole-market push" if self._plan.whole else "one by one"

    # -- directory and subscriptions --------------------------------------------------------

    def _opened_link(self) -> XtLink:
        if self._xt is None:
            raise RuntimeError("the xtquant link is opened by run()")
        return self._xt

    async def _load_directory(self, publisher: Publisher) -> None:
        settings = self._settings
        found = await self._opened_link().directory(settings.xt_symbols, settings.xt_sectors)
        if not found:
            raise RuntimeError("no instruments: check xt_symbols / xt_sectors")
        infos = [symbol_info(listing.symbol, listing.detail, listing.types) for listing in found]
        self._norm.set_directory(infos)
        for info in infos:
            await publisher.publish(*directory_entry(info))
        self._directory_day = shanghai_day(self._now_ms())
        if not self._symbols:
            self._build(infos)

    def _build(self, infos: list[SymbolInfo]) -> None:
        settings = self._settings
        symbols = tuple(info.symbol for info in infos)
        single = len(symbols) <= settings.xt_single_max
        source_bars = (single and settings.xt_klines != "derive") or settings.xt_klines == "source"
        if source_bars and not single:
            logger.warning("xtquant bars need one-by-one subscriptions: deriving them instead")
            source_bars = False
        self._derive_bars = not source_bars
        if single:
            self._plan = Plan(
                single=symbols,
                bar_periods=KLINE_PERIODS if source_bars else (),
                level2=settings.xt_level2,
            )
        else:
            whole = settings.xt_symbols or settings.xt_markets
            self._plan = Plan(whole=tuple(whole))
            if settings.xt_level2:
                logger.warning(
                    "Level-2 is subscribed one by one only: ignored for %d symbols", len(symbols)
                )
        session_rules = settings.calendar == "real"
        for info in infos:
            symbol = info.symbol
            self._symbols[symbol] = _Symbol(
                quote=data_subject(DataType.QUOTE, symbol),
                depth=data_subject(DataType.DEPTH, symbol),
                trade=data_subject(DataType.TRADE, symbol),
                klines={p: data_subject(DataType.KLINE, symbol, p) for p in KLINE_PERIODS},
                bars=KLineAggregator(
                    symbol,
                    self.source_id,
                    session_rules=session_rules,
                    tick_periods=settings.kline_tick_periods,
                )
                if self._derive_bars
                else None,
                index=info.kind is Kind.INDEX,
            )

    # -- data --------------------------------------------------------------------------------

    async def _process(self, batch: Batch, publisher: Publisher) -> None:
        try:
            for (kind, symbol), raw in batch.snapshots.items():
                if kind == TICK:
                    await self._on_tick(symbol, raw, publisher)
                elif kind == L2QUOTE:
                    await self._on_l2quote(symbol, raw, publisher)
            for (period, symbol, _), raw in batch.bars.items():
                mapped = self._norm.bar(symbol, period, raw)
                if mapped is not None:
                    await self._publish_bars(self._source_bars.update(*mapped), publisher)
            for kind, symbol, raw in batch.items:
                if kind == L2TRANSACTION:
                    await self._on_l2trade(symbol, raw, publisher)
        except NatsError as exc:  # NATS away: the runner reconnects; this batch is lost
            logger.warning("publish failed: %r", exc)

    async def _on_tick(self, symbol: str, raw: dict[str, Any], publisher: Publisher) -> None:
        feed = self._symbols.get(symbol)
        mapped = self._norm.quote(symbol, raw) if feed is not None else None
        if feed is None or mapped is None:
            return  # not in our universe (the whole-market push has indices, bonds, ...)
        ts_ms, quote, depth = mapped
        if ts_ms <= feed.last_ts:
            self.stale += 1  # a repeat (the first push after subscribing) or out of order
            return
        feed.last_ts = ts_ms
        self.ticks += 1
        await publisher.publish(feed.quote, quote, quote_id(symbol, ts_ms))
        # An index is a level: its volume is its constituents', it has no book or trades.
        if not feed.index and symbol not in self._l2_depth:
            await publisher.publish(feed.depth, depth, depth_id(symbol, ts_ms))
        if not feed.index and symbol not in self._l2_trades:
            trade = self._deriver.update(quote, ts_ms)
            if trade is not None:
                await publisher.publish(feed.trade, trade, trade_id(symbol, trade["trade_id"]))
        for event, msg_id in self._status_events.update(quote, ts_ms):
            await publisher.publish(symbol_status_subject(symbol), event, msg_id)
        phase = TradingPhase(quote["phase"])
        if feed.bars is not None:
            await self._publish_bars(quote_bars(feed.bars, ts_ms, quote, phase), publisher)
        elif phase is TradingPhase.CLOSED:
            await self._publish_bars(self._source_bars.close(symbol), publisher)

    async def _on_l2quote(self, symbol: str, raw: dict[str, Any], publisher: Publisher) -> None:
        feed = self._symbols.get(symbol)
        mapped = self._norm.quote(symbol, raw, levels=10) if feed is not None else None
        if feed is not None and mapped is not None:
            ts_ms, _, depth = mapped
            self._l2_depth.add(symbol)  # from now on the 10-level book replaces the 5-level
            await publisher.publish(feed.depth, depth, depth_id(symbol, ts_ms))

    async def _on_l2trade(self, symbol: str, raw: dict[str, Any], publisher: Publisher) -> None:
        feed = self._symbols.get(symbol)
        trade = self._norm.trade(symbol, raw) if feed is not None else None
        if feed is not None and trade is not None:
            self._l2_trades.add(symbol)  # exchange trades: stop deriving them
            await publisher.publish(feed.trade, trade, trade_id(symbol, trade["trade_id"]))

    async def _publish_bars(self, events: list[KLineEvent], publisher: Publisher) -> None:
        for event in events:
            feed = self._symbols[event.payload["symbol"]]
            await publisher.publish(feed.klines[event.period], event.payload, event.msg_id())
            if event.closed and self._history is not None:
                await self._history.closed_bar(event.period, event.start_ms, event.payload)

    # -- supervision -------------------------------------------------------------------------

    async def _supervise(self, publisher: Publisher) -> None:
        """Silence while trading, the end of the session, a new day's directory."""
        link, inbox = self._link_state, self._inbox
        if link.down or inbox is None:
            return
        now_ms = self._now_ms()
        mono = time.monotonic()
        if self._calendar.phase_at_ms(now_ms) not in _WATCHED_PHASES:
            link.watched_since = mono  # silence only counts while quotes must move
        elif mono - max(inbox.last_push, link.watched_since) > self._settings.xt_silence_s:
            await self._on_silence()
        elif inbox.last_push > link.watched_since:
            link.strikes = 0
        await self._roll_day(now_ms, publisher)

    async def _on_silence(self) -> None:
        """First resubscribe; if the feed stays silent, reconnect."""
        link, xt = self._link_state, self._opened_link()
        link.strikes += 1
        link.watched_since = time.monotonic()
        link.detail = f"no data for {self._settings.xt_silence_s:g} s while trading"
        logger.warning("xtquant: %s (%d in a row)", link.detail, link.strikes)
        try:
            if link.strikes % 2:
                self.resubscribes += 1
                await xt.subscribe(self._plan)
            else:
                await xt.connect()
                await xt.subscribe(self._plan)
                self.reconnects += 1
        except Exception as exc:
            self._fail(f"resubscribing failed: {exc}")

    async def _roll_day(self, now_ms: int, publisher: Publisher) -> None:
        """A new day's directory; the day's bars finalized a minute after a close we saw."""
        if self._settings.calendar != "real":
            return
        day, day_ms = divmod(now_ms + SHANGHAI_OFFSET_MS, DAY_MS)
        if day != self._directory_day and day_ms >= DIRECTORY_REFRESH_MS:
            try:  # a new day: new prev_close and limits
                await self._load_directory(publisher)
            except Exception as exc:
                logger.warning("xtquant: refreshing the directory failed: %s", exc)
                self._directory_day = day  # once a day; the old limits stay meanwhile
        if self._calendar.phase_at_ms(now_ms) in TRADING_PHASES:
            self._open_day = day
        ended = self._calendar.phase_at_ms(now_ms - SESSION_END_GRACE_MS) is TradingPhase.CLOSED
        if ended and self._open_day == day != self._closed_day:
            self._closed_day = day
            events = self._source_bars.close()
            for feed in self._symbols.values():
                if feed.bars is not None:
                    events += feed.bars.close_all()
            await self._publish_bars(events, publisher)
            self._start_backfill(publisher)  # the day's final bars as the vendor has them
