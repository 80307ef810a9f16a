"""One symbol's simulated trading day: price, book, trades. Pure (no I/O, no clock of its own).

Deterministic per (seed, symbol): the same sequence of ``step(ts_ms, phase)`` calls yields the
same payloads. Prices live as integer ticks and leave as ``ticks / scale``, which is exactly
``schemas.round_to_tick`` (IEEE division is correctly rounded, so the float is the nearest to
the decimal price and its repr has at most the tick's decimals) at a fraction of the cost;
amounts are integer tick x shares for the same reason. Dicts, not models: this is the hot path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas import Kind, SymbolInfo, TradingPhase
from schemas.symbols import band_prices, has_price_limit, limit_pct
from services.calendar import DAY_MS, SHANGHAI_OFFSET_MS, day_to_date, shanghai_day
from services.isotime import MinuteIso
from services.sim._book import LEVELS, LOT, side, touch

SESSION_S = 4 * 3600  # continuous trading per day: volatility and jump rates are per this
OVERSHOOT = 0.02  # how far (log) the fair value may run past a limit: a sealed limit, not a runaway
JUMP_SIZE = 0.025  # log-size of an occasional news jump
JUMPS_PER_DAY = 0.4
# Without a price limit (an index, a new listing) the walk still needs a band to stay in.
UNLIMITED_BAND = Decimal("0.30")
# From 09:20 the opening auction takes no cancellations: its matched volume only grows.
NO_CANCEL_DAY_MS = (9 * 60 + 20) * 60_000
# Mean growth of an auction's matched volume per 3 s, in trade sizes: ~1-2 % of a day's
# volume meets at the open, as in the real market.
AUCTION_GROWTH = 1.0

# Enum attribute look-ups cost ~100 ns each on this path; bind the members once.
_CONTINUOUS = TradingPhase.CONTINUOUS
_OPENING_AUCTION = TradingPhase.OPENING_AUCTION
_PRE_CONTINUOUS = TradingPhase.PRE_CONTINUOUS
_CLOSING_AUCTION = TradingPhase.CLOSING_AUCTION
_CLOSED = TradingPhase.CLOSED
_PHASE_VALUE = {phase: phase.value for phase in TradingPhase}


@dataclass(slots=True)
class Snapshot:
    """What one ``step`` produced: payload dicts with exactly the schemas' fields."""

    ts_ms: int
    quote: dict[str, Any]
    depth: dict[str, Any]
    trades: list[dict[str, Any]]
    final: bool = False  # the day's closing snapshot: K-lines of the day close after it


class SymbolMarket:
    """Random walk with mild mean reversion and rare jumps, clamped to the daily limit band."""

    __slots__ = (
        "_amount", "_anchor", "_bookless", "_closed", "_day", "_day_tag", "_dir", "_dn",
        "_dn_f", "_high", "_indicative", "_info", "_info_update", "_interval_ms", "_iso",
        "_jump_p", "_kappa", "_last", "_level_lots", "_lf", "_limit_pct", "_listing_day",
        "_ln_dn", "_ln_up", "_low", "_matched", "_max_spread", "_open", "_p_trades", "_prev",
        "_prev_f", "_resumed_ms", "_rng", "_scale", "_seq", "_sigma", "_source", "_symbol",
        "_trade_lots", "_up", "_up_f", "_volume",
    )  # fmt: skip

    def __init__(
        self, info: SymbolInfo, *, seed: int, source: str = "sim", interval_s: float = 3.0
    ) -> None:
        self._info = info
        self._info_update: SymbolInfo | None = None
        self._symbol = info.symbol
        self._source = source
        self._rng = rng = random.Random(f"market:{seed}:{info.symbol}")
        self._scale = round(1 / info.price_tick)
        self._interval_ms = max(1, round(interval_s * 1000))
        self._iso = MinuteIso()
        steps_per_day = SESSION_S / interval_s
        daily_vol = min(0.06, max(0.008, math.exp(rng.gauss(math.log(0.022), 0.35))))
        self._sigma = daily_vol / math.sqrt(steps_per_day)
        self._kappa = 0.7 / steps_per_day  # pull toward prev_close, half-life about a day
        self._jump_p = JUMPS_PER_DAY / steps_per_day
        liquidity = math.exp(rng.gauss(0.0, 0.6))
        p_idle = min(0.6, 0.25 / liquidity)  # share of snapshots with no trade
        self._p_trades = (p_idle, p_idle + (1 - p_idle) * 0.45, p_idle + (1 - p_idle) * 0.8)
        price_ticks = info.prev_close * self._scale
        self._level_lots = max(2.0, min(3000.0, 2.0e5 / price_ticks * liquidity))
        self._trade_lots = max(1.0, self._level_lots / 4)
        self._max_spread = max(1, int(price_ticks // 20_000))  # wider in ticks for dear stocks
        self._day = -1
        self._resumed_ms = 0  # when continuous trading last (re)started: no trade before it
        self._day_tag = ""
        self._bookless = info.kind is Kind.INDEX  # an index: a level, no book, no trades
        # Day 1 is the first sim day for a listing the universe dated (listed then).
        self._listing_day: int | None = 1 if info.listed is not None else None
        self._limit_pct = _band_of(info)
        self._set_prev(round(info.prev_close * self._scale))
        self._lf = self._anchor
        self._reset_day()

    # -- public -------------------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def bookless(self) -> bool:
        """An index: its snapshots have no book, and its trades are not published."""
        return self._bookless

    @property
    def info(self) -> SymbolInfo:
        """The directory entry for the current sim day (prev_close and limits roll daily)."""
        return self._info

    def pop_info_update(self) -> SymbolInfo | None:
        """The new directory entry after a day rolled over, once; else None."""
        update, self._info_update = self._info_update, None
        return update

    def step(self, ts_ms: int, phase: TradingPhase) -> Snapshot | None:
        """Advance to ``ts_ms`` in ``phase``; None when the market shows nothing new."""
        day = shanghai_day(ts_ms)
        if day != self._day:
            self._roll_day(day)
        trades: list[dict[str, Any]] = []
        if phase is not _CONTINUOUS:
            self._resumed_ms = 0
            return self._outside_continuous(ts_ms, phase, trades)
        if not self._resumed_ms:
            self._resumed_ms = ts_ms
        if self._open == 0:
            self._open_match(ts_ms, trades)
        else:
            self._trade(ts_ms, self._walk(), trades)
        return self._snapshot(ts_ms, phase, trades, False)

    def _outside_continuous(
        self, ts_ms: int, phase: TradingPhase, trades: list[dict[str, Any]]
    ) -> Snapshot | None:
        """The auctions (集合竞价), their results, and the phases that show nothing."""
        final = False
        opened = self._open != 0
        if phase is _OPENING_AUCTION and not opened:
            self._indicate(ts_ms)
        elif (phase is _PRE_CONTINUOUS or phase is _CLOSING_AUCTION) and not opened:
            self._open_match(ts_ms, trades)  # the 09:25 result (or a sim started after it)
        elif phase is _CLOSING_AUCTION:
            self._indicate(ts_ms)
        elif phase is _CLOSED and opened and not self._closed:
            self._close_match(ts_ms, trades)
            final = True
        else:  # pre-open, 09:25-09:30 after the result, lunch, closed for the day, halts
            return None
        return self._snapshot(ts_ms, phase, trades, final)

    # -- day and price process ---------------------------------------------------------------

    def _set_prev(self, prev: int) -> None:
        info = self._info
        prev_f = prev / self._scale
        limited = has_price_limit(info.kind, info.board, self._listing_day)
        band = self._limit_pct if limited else UNLIMITED_BAND
        up_f, dn_f = band_prices(prev_f, band, info.price_tick)
        self._prev, self._prev_f = prev, prev_f
        self._up, self._dn = round(up_f * self._scale), round(dn_f * self._scale)
        self._up_f, self._dn_f = (up_f, dn_f) if limited else (0.0, 0.0)  # 0: published as none
        self._anchor = math.log(prev)
        self._ln_up, self._ln_dn = math.log(self._up), math.log(self._dn)

    def _reset_day(self) -> None:
        self._open = self._high = self._low = 0
        self._last = self._prev
        self._indicative = self._matched = 0
        self._volume = self._amount = self._seq = 0
        self._dir = "neutral"
        self._closed = False

    def _roll_day(self, day: int) -> None:
        first = self._day < 0
        self._day = day
        self._day_tag = day_to_date(day).strftime("%Y%m%d-")
        if first:
            return
        if self._open != 0:  # traded yesterday: its last price is today's prev_close
            if self._listing_day is not None:
                self._listing_day += 1
            self._set_prev(self._last)
            self._info = self._info_update = self._info.model_copy(
                update={
                    "prev_close": self._prev_f,
                    "limit_up": self._up_f,
                    "limit_down": self._dn_f,
                }
            )
        self._lf = min(max(self._lf, self._anchor - 0.05), self._anchor + 0.05)
        self._reset_day()

    def _clamp(self, ticks: int) -> int:
        return self._dn if ticks < self._dn else self._up if ticks > self._up else ticks

    def _walk(self) -> int:
        """Advance the fair value one step; return it in ticks, inside the limit band."""
        rng = self._rng
        lf = self._lf + self._kappa * (self._anchor - self._lf) + self._sigma * rng.gauss(0.0, 1.0)
        if rng.random() < self._jump_p:
            lf += rng.gauss(0.0, JUMP_SIZE)
        self._lf = lf = min(max(lf, self._ln_dn - OVERSHOOT), self._ln_up + OVERSHOOT)
        return self._clamp(int(math.exp(lf) + 0.5))

    def _indicate(self, ts_ms: int) -> None:
        """Move the auction's indicative price (a gap at the open, a drift at the close) and
        its matched volume: it grows as orders arrive, and may shrink only while they can
        still be cancelled (the opening auction before 09:20)."""
        rng = self._rng
        growth = self._trade_lots * AUCTION_GROWTH * self._interval_ms / 3000
        if self._indicative == 0:  # first auction snapshot: the overnight gap or the close's
            opening = self._open == 0
            base = self._lf if opening else math.log(self._last)
            daily_vol = self._sigma * math.sqrt(SESSION_S * 1000 / self._interval_ms)
            self._lf = base + rng.gauss(0.0, daily_vol * (0.4 if opening else 0.1))
            self._matched = 1 + int(growth * rng.random())
        else:
            self._lf += self._sigma * rng.gauss(0.0, 1.0)
            cancels = self._open == 0 and (ts_ms + SHANGHAI_OFFSET_MS) % DAY_MS < NO_CANCEL_DAY_MS
            change = int(growth * (2.5 * rng.random() - 0.5 if cancels else 2 * rng.random()))
            self._matched = max(1, self._matched + change)
        self._indicative = self._clamp(int(math.exp(self._lf) + 0.5))
        self._lf = math.log(self._indicative)

    def _open_match(self, ts_ms: int, trades: list[dict[str, Any]]) -> None:
        price = self._indicative or self._clamp(int(math.exp(self._lf) + 0.5))
        self._open = self._high = self._low = price
        # The auction's last matched volume trades at its price; without an auction (a sim
        # started after 09:25) a size of the same order.
        lots = self._matched or 1 + int(self._trade_lots * (5 + 20 * self._rng.random()))
        self._indicative = self._matched = 0
        self._lf = math.log(price)
        self._fill(ts_ms, price, lots * LOT, "neutral", trades)

    def _close_match(self, ts_ms: int, trades: list[dict[str, Any]]) -> None:
        price = self._indicative or self._last
        lots = self._matched or 1 + int(self._trade_lots * (3 + 10 * self._rng.random()))
        self._indicative = self._matched = 0
        self._closed = True
        direction = "buy" if price > self._last else "sell" if price < self._last else "neutral"
        self._fill(ts_ms, price, lots * LOT, direction, trades)

    def _trade(self, ts_ms: int, target: int, trades: list[dict[str, Any]]) -> None:
        """0-3 trades walking the last price to ``target``; direction by the tick rule.

        At the bell that (re)opens continuous trading every symbol trades: the orders queued
        since the auction (or the break) meet at once, the busiest second of the day.
        """
        rng = self._rng
        r = rng.random()
        p_trades = self._p_trades
        count = 0 if r < p_trades[0] else 1 if r < p_trades[1] else 2 if r < p_trades[2] else 3
        if count == 0 and ts_ms == self._resumed_ms:
            count = 1
        last = self._last
        spacing = self._interval_ms // 4
        for k in range(1, count + 1):
            price = last + (target - last) * k // count
            direction = "buy" if price > self._last else "sell" if price < self._last else self._dir
            lots = 1 + int(self._trade_lots * rng.random() * rng.random() * 4)
            # A snapshot's trades happened since the one before, but not before the bell.
            stamp = max(ts_ms - (count - k) * spacing, self._resumed_ms or ts_ms)
            self._fill(stamp, price, lots * LOT, direction, trades)

    def _fill(
        self, ts_ms: int, price: int, shares: int, direction: str, trades: list[dict[str, Any]]
    ) -> None:
        amount = price * shares
        self._last = price
        self._dir = direction
        if price > self._high:
            self._high = price
        if price < self._low:
            self._low = price
        self._volume += shares
        self._amount += amount
        self._seq += 1
        trades.append(
            {
                "symbol": self._symbol,
                "timestamp": self._iso(ts_ms),
                "price": price / self._scale,
                "volume": shares,
                "amount": amount / self._scale,
                "direction": direction,
                "trade_id": f"{self._day_tag}{self._seq}",
                "derived": True,
                "source": self._source,
            }
        )

    # -- payloads -----------------------------------------------------------------------------

    def _book(self, auction: bool) -> tuple[list[list[float]], list[list[float]]]:
        if self._bookless:
            return [], []
        if auction and self._indicative:
            # Level-1 in a call auction: best bid = best ask = the indicative price, both
            # showing the volume that would match there (the exchanges' zero-price levels
            # holding the unmatched rest are dropped, as the xtquant adapter drops them).
            level = [self._indicative / self._scale, self._matched * LOT]
            return [level], [list(level)]
        up, dn, rand = self._up, self._dn, self._rng.random
        last = self._indicative or self._last
        spread = 1 if self._max_spread == 1 else 1 + int(rand() * self._max_spread)
        sealed = (
            1
            if last == up and self._lf > self._ln_up
            else -1
            if last == dn and self._lf < self._ln_dn
            else 0
        )
        bid1, ask1 = touch(
            last, spread, up, dn, buyer_aggressed=self._dir == "buy" and not auction, sealed=sealed
        )
        lots = self._level_lots * (0.6 if auction else 2.0)
        bids = side(bid1, -1, dn, up, lots, rand, self._scale)
        asks = side(ask1, 1, dn, up, lots, rand, self._scale)
        if sealed > 0 and bids:  # the queue at a sealed limit is what makes it sealed
            bids[0][1] *= 40
        elif sealed < 0 and asks:
            asks[0][1] *= 40
        return bids, asks

    def _snapshot(
        self, ts_ms: int, phase: TradingPhase, trades: list[dict[str, Any]], final: bool
    ) -> Snapshot:
        scale, prev = self._scale, self._prev
        auction = phase is _OPENING_AUCTION or phase is _CLOSING_AUCTION
        bids, asks = self._book(auction)
        last = self._indicative if phase is _OPENING_AUCTION else self._last
        # percent to 2 decimals, half away from zero, in integers: no float noise, no round()
        diff = last - prev
        pct = (abs(diff) * 20_000 + prev) // (2 * prev)
        iso = self._iso(ts_ms)
        quote = {
            "symbol": self._symbol,
            "timestamp": iso,
            "last_price": last / scale,
            "open": self._open / scale,
            "high": self._high / scale,
            "low": self._low / scale,
            "prev_close": self._prev_f,
            "change": diff / scale,
            "change_percent": (pct if diff >= 0 else -pct) / 100,
            "volume": self._volume,
            "amount": self._amount / scale,
            "bid_price": bids[0][0] if bids else 0.0,
            "ask_price": asks[0][0] if asks else 0.0,
            "bid_volume": int(bids[0][1]) if bids else 0,
            "ask_volume": int(asks[0][1]) if asks else 0,
            "bids": bids,
            "asks": asks,
            "limit_up": self._up_f,
            "limit_down": self._dn_f,
            "phase": _PHASE_VALUE[phase],
            "source": self._source,
        }
        depth = {
            "symbol": self._symbol,
            "timestamp": iso,
            "bids": bids,
            "asks": asks,
            "levels": LEVELS,
            "source": self._source,
        }
        return Snapshot(ts_ms, quote, depth, trades, final)


def _band_of(info: SymbolInfo) -> Decimal:
    """The band the directory entry shows (a ChiNext ETF's 20 %), else the kind's rule."""
    if info.limit_up > 0 and info.prev_close > 0:
        return Decimal(str(round(info.limit_up / info.prev_close - 1, 2)))
    return limit_pct(info.kind, info.board, st=info.is_st)
