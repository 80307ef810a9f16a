"""K-lines (bars) from quote snapshots, shared by every source.

Volume and amount of a bar are differences of the snapshots' cumulative day totals; the day
bar's are the totals themselves. A-share rules (``session_rules=True``), in Shanghai time:

- bars sit on the trading-minute grid: 240 minutes, 09:30-11:30 and 13:00-15:00, so 60m bars
  are 09:30, 10:30, 13:00, 14:00 and every period divides both halves of the day;
- the opening auction (and anything before 09:30) folds into the first 09:30 bar;
- no bar during the lunch break: a snapshot at 11:30-13:00 belongs to the 11:29 bar;
- the closing auction's 15:00 match (and anything later) folds into the 14:59 bar.

Without session rules (the simulator's always-open demo) bars follow the plain minute grid.

A bar is labelled (``timestamp``) by its period's END, as xtquant, QMT and 同花顺 label it: the
09:30-09:31 bar is 09:31, the morning's last 1m bar 11:30, the afternoon's first 13:01, the
day's last 15:00 (a 60m bar: 10:30, 11:30, 14:00, 15:00). ``start`` gives the period's start
(09:30, 11:29, 13:00, 14:59). The day bar is stamped 00:00 of its trading day (start and label
alike), as xtquant's. A bar's identity (its ``Nats-Msg-Id``) is its start.
A bar is final (``closed: true``) once a later snapshot falls in a later bar, or at
:meth:`KLineAggregator.close_all`; until then updates carry ``closed: false``. Once a trade
has been seen, a minute with snapshots but no trade gets a flat, zero-volume bar, as on the
exchange (the closing auction's 14:57 and 14:58 bars, an illiquid stock's quiet minutes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from schemas import KLINE_PERIODS, TradingPhase, epoch_ms_to_iso
from services.msgid import kline_id

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000
SHANGHAI_OFFSET_MS = 8 * 3_600_000
DAY_PERIOD = "1d"
PERIOD_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60}

_OPEN_AM, _CLOSE_AM = 9 * 60 + 30, 11 * 60 + 30  # minutes of the day
_OPEN_PM, _CLOSE_PM = 13 * 60, 15 * 60
_MORNING = _CLOSE_AM - _OPEN_AM  # 120 trading minutes, as many in the afternoon
# Before the match an auction's price is indicative: it must not shape a bar.
_INDICATIVE = frozenset({TradingPhase.PRE_OPEN, TradingPhase.OPENING_AUCTION})


def session_minute(minute_of_day: int) -> int:
    """The trading minute (0-239) a snapshot at ``minute_of_day`` (Shanghai) counts toward."""
    if minute_of_day < _OPEN_AM:
        return 0
    if minute_of_day < _CLOSE_AM:
        return minute_of_day - _OPEN_AM
    if minute_of_day < _OPEN_PM:
        return _MORNING - 1
    if minute_of_day < _CLOSE_PM:
        return _MORNING + minute_of_day - _OPEN_PM
    return 2 * _MORNING - 1


def session_minute_of_day(index: int) -> int:
    """Inverse of :func:`session_minute`: the clock minute where trading minute ``index`` starts."""
    return _OPEN_AM + index if index < _MORNING else _OPEN_PM + index - _MORNING


def bar_end_minute_of_day(first_minute: int, minutes: int, *, session_rules: bool = True) -> int:
    """The clock minute that labels a bar of ``minutes`` whose first trading minute (session
    index, or clock minute without session rules) is ``first_minute``: the end of its last
    minute, so 11:30 (not 13:00) for the morning's last bar."""
    last = first_minute + minutes - 1
    return (session_minute_of_day(last) if session_rules else last) + 1


def bar_label_ms(start_ms: int, period: str, *, session_rules: bool = True) -> int:
    """The label (its period's end) of the bar of ``period`` starting at ``start_ms``."""
    minutes = PERIOD_MINUTES.get(period, 0)
    if minutes == 0:
        return start_ms  # the day bar: 00:00 of its day
    day, day_ms = divmod(start_ms + SHANGHAI_OFFSET_MS, DAY_MS)
    clock_minute = day_ms // MINUTE_MS
    first = session_minute(clock_minute) if session_rules else clock_minute
    end = bar_end_minute_of_day(first, minutes, session_rules=session_rules)
    return day * DAY_MS + end * MINUTE_MS - SHANGHAI_OFFSET_MS


def relabel_start_labelled(payload: dict[str, Any], *, session_rules: bool = True) -> bool:
    """A bar recorded before bars carried ``start`` was labelled by its start: give it its
    end label and its ``start`` (in place); False when it already has both."""
    if "start" in payload:
        return False
    start = payload["timestamp"]
    start_ms = round(datetime.fromisoformat(start).timestamp() * 1000)
    label_ms = bar_label_ms(start_ms, payload["period"], session_rules=session_rules)
    payload["timestamp"], payload["start"] = epoch_ms_to_iso(label_ms), start
    return True


class KLineEvent(NamedTuple):
    """One bar emission: the payload (exactly ``schemas.KLineData``'s fields) and its identity."""

    period: str
    start_ms: int
    payload: dict[str, Any]

    @property
    def closed(self) -> bool:
        return bool(self.payload["closed"])

    def msg_id(self) -> str:
        """Source-independent ``Nats-Msg-Id``: an identical bar state dedupes in the broker."""
        p = self.payload
        return kline_id(self.period, p["symbol"], self.start_ms, p["volume"], p["closed"])


@dataclass(slots=True)
class _Bar:
    key: int
    start_ms: int
    start: str
    timestamp: str  # the label: the period's end (the day bar: its 00:00)
    open: float
    high: float
    low: float
    close: float
    volume: int = 0
    amount: float = 0.0
    dirty: bool = True  # changed since it was last emitted


@dataclass(slots=True)
class _Period:
    name: str
    minutes: int  # 0 for the day bar
    every_tick: bool  # emit an update on every changing snapshot, not only per minute
    bar: _Bar | None = None


class KLineAggregator:
    """Bars of one symbol for several periods, fed with that symbol's quote snapshots in order.

    ``tick_periods`` emit an in-progress update on every snapshot that changes them. The other
    periods emit theirs when a 1m bar closes, as of that close (whole minutes only), and a
    bar's final replaces that update in the minute it ends: one message per period per minute.
    """

    def __init__(
        self,
        symbol: str,
        source: str,
        *,
        periods: Iterable[str] = KLINE_PERIODS,
        session_rules: bool = True,
        tick_periods: Iterable[str] = ("1m",),
    ) -> None:
        tick = set(tick_periods)
        self.symbol = symbol
        self.source = source
        self.session_rules = session_rules
        self._periods: list[_Period] = []
        for name in periods:
            if name != DAY_PERIOD and name not in PERIOD_MINUTES:
                raise ValueError(f"unknown kline period {name!r}")
            self._periods.append(_Period(name, PERIOD_MINUTES.get(name, 0), name in tick))
        self._periods.sort(key=lambda p: p.minutes or 10**6)  # 1m first, 1d last
        self._day = -1
        self._minute = -1
        self._last_ts = -1
        self._volume = 0  # cumulative totals seen so far today (the baseline of the next diff)
        self._amount = 0.0
        self._sealed = False  # close_all() ran: the day is over for this symbol
        self._priced = False  # a trade was seen today

    def update(  # noqa: C901 (one flow, top to bottom: see pyproject)
        self,
        ts_ms: int,
        price: float,
        volume: int,
        amount: float,
        phase: TradingPhase = TradingPhase.CONTINUOUS,
        *,
        day_open: float = 0.0,
        day_high: float = 0.0,
        day_low: float = 0.0,
    ) -> list[KLineEvent]:
        """Feed one snapshot (last price, cumulative day volume and amount); returns emissions.

        ``day_open/high/low`` (the quote's own, 0 if unknown) make the day bar right even when
        the aggregator starts in the middle of the session.
        """
        if ts_ms < self._last_ts:
            return []  # out of order: a bar must never go back in time
        self._last_ts = ts_ms
        day, day_ms = divmod(ts_ms + SHANGHAI_OFFSET_MS, DAY_MS)
        clock_minute = day_ms // MINUTE_MS
        minute = session_minute(clock_minute) if self.session_rules else clock_minute
        out: list[KLineEvent] = []
        if day != self._day:
            out += self._finish()
            self._day, self._sealed, self._priced = day, False, False
            # Joined after the first bar of a session: what traded before we looked belongs to
            # the day bar only, so the intraday diffs start from this snapshot's totals.
            joined_late = self.session_rules and minute > 0
            self._volume, self._amount = (volume, amount) if joined_late else (0, 0.0)
            self._minute = minute
        elif self._sealed:
            return out
        d_volume = volume - self._volume
        d_amount = max(amount - self._amount, 0.0)
        real_price = price > 0 and phase not in _INDICATIVE
        traded = real_price and d_volume > 0
        if traded:
            self._volume, self._amount = volume, max(amount, self._amount)
            self._priced = True  # from now on a quiet minute gets a flat bar
        minute_rolled = minute != self._minute
        self._minute = minute
        for period in self._periods:
            bar = period.bar
            key = day if period.minutes == 0 else minute // period.minutes
            if bar is not None and bar.key != key:
                out.append(self._event(period.name, bar, closed=True))
                period.bar = bar = None
            elif bar is not None and minute_rolled and bar.dirty and not period.every_tick:
                # A minute just closed: publish the bar through it, before the new tick.
                out.append(self._event(period.name, bar, closed=False))
            if bar is None:
                if not (traded or (self._priced and real_price)):
                    continue
                bar = period.bar = self._new_bar(period, key, day, price)
                if period.minutes == 0:
                    self._fold_day(bar, price, day_open, day_high, day_low)
            if traded:
                if period.minutes == 0:
                    self._fold_day(bar, price, day_open, day_high, day_low)
                else:
                    bar.volume += d_volume
                    bar.amount += d_amount
                    if price > bar.high:
                        bar.high = price
                    if price < bar.low:
                        bar.low = price
                    bar.close = price
                bar.dirty = True
            if period.every_tick and bar.dirty:
                out.append(self._event(period.name, bar, closed=False))
        return out

    def close_all(self) -> list[KLineEvent]:
        """Finalize every open bar: the session is over (call after the day's last snapshot)."""
        self._sealed = True
        return self._finish()

    # -- internals ----------------------------------------------------------------------------

    def _finish(self) -> list[KLineEvent]:
        out = []
        for period in self._periods:
            if period.bar is not None:
                out.append(self._event(period.name, period.bar, closed=True))
                period.bar = None
        return out

    def _new_bar(self, period: _Period, key: int, day: int, price: float) -> _Bar:
        midnight_ms = day * DAY_MS - SHANGHAI_OFFSET_MS
        if period.minutes == 0:
            start_ms = label_ms = midnight_ms  # the day bar is stamped at midnight, like xtquant's
        else:
            first = key * period.minutes
            start = session_minute_of_day(first) if self.session_rules else first
            end = bar_end_minute_of_day(first, period.minutes, session_rules=self.session_rules)
            start_ms = midnight_ms + start * MINUTE_MS
            label_ms = midnight_ms + end * MINUTE_MS
        start_iso, label_iso = epoch_ms_to_iso(start_ms), epoch_ms_to_iso(label_ms)
        return _Bar(key, start_ms, start_iso, label_iso, price, price, price, price)

    def _fold_day(self, bar: _Bar, price: float, day_open: float, high: float, low: float) -> None:
        """The day bar: the day's totals, and the quote's own open/high/low when it has them."""
        bar.volume, bar.amount, bar.close = self._volume, self._amount, price
        if day_open > 0:
            bar.open = day_open
        bar.high = max(bar.high, high, price)
        if 0 < low < bar.low:
            bar.low = low
        if price < bar.low:
            bar.low = price

    def _event(self, period: str, bar: _Bar, *, closed: bool) -> KLineEvent:
        bar.dirty = False
        payload = {
            "symbol": self.symbol,
            "timestamp": bar.timestamp,
            "start": bar.start,
            "period": period,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "amount": round(bar.amount, 2),
            "closed": closed,
            "source": self.source,
        }
        return KLineEvent(period, bar.start_ms, payload)


def quote_bars(
    aggregator: KLineAggregator, ts_ms: int, quote: dict[str, Any], phase: TradingPhase
) -> list[KLineEvent]:
    """Bars after one normalized quote; the day's bars close on its first ``closed`` quote.

    Every source that derives bars (the simulator, replay, xtquant's whole-market feed) goes
    through here, so identical quotes give identical bars whatever their source.
    """
    events = aggregator.update(
        ts_ms,
        quote["last_price"],
        quote["volume"],
        quote["amount"],
        phase,
        day_open=quote["open"],
        day_high=quote["high"],
        day_low=quote["low"],
    )
    if phase is TradingPhase.CLOSED:
        events += aggregator.close_all()
    return events
