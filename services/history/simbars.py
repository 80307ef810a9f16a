"""The simulator's past: a deterministic random walk of daily bars that ends at today's
``prev_close``, on trading days only, every day inside its price limits."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from schemas import SymbolInfo, epoch_ms_to_iso, limit_prices, round_to_tick
from schemas.history import DAY_PERIOD
from services.calendar import DAY_MS, SHANGHAI_OFFSET_MS, TradingCalendar

_EPOCH = date(1970, 1, 1)
DAILY_SIGMA = 0.02  # a typical A-share daily return spread
MAX_LOOKBACK_DAYS = 400_000  # calendar days searched for trading days (a guard, not a limit)


def trading_days_before(day: date, count: int, calendar: TradingCalendar) -> list[date]:
    """The ``count`` trading days before ``day`` (excluded), oldest first."""
    days: list[date] = []
    current = day
    for _ in range(MAX_LOOKBACK_DAYS):
        if len(days) >= count:
            break
        current -= timedelta(days=1)
        if calendar.is_trading_day(current):
            days.append(current)
    days.reverse()
    return days


def day_start_ms(day: date) -> int:
    """Shanghai midnight of ``day`` in epoch ms: where a daily bar is stamped (as xtquant's)."""
    return (day - _EPOCH).days * DAY_MS - SHANGHAI_OFFSET_MS


def _closes(info: SymbolInfo, days: int, rng: random.Random) -> list[float]:
    """Closes oldest first; the last is ``info.prev_close``. Walked backwards from it, each
    step a return its day's limits allow."""
    tick = info.price_tick
    closes = [info.prev_close]
    for _ in range(days - 1):
        later = closes[-1]
        for _attempt in range(8):
            ret = rng.gauss(0.0003, DAILY_SIGMA)
            earlier = round_to_tick(later / (1 + ret), tick)
            up, down = limit_prices(earlier, info.board, st=info.is_st, tick=tick)
            if down <= later <= up and earlier > tick:
                break
        else:
            earlier = later  # a flat day is always within the limits
        closes.append(earlier)
    closes.reverse()
    return closes


def daily_history(
    info: SymbolInfo, before: date, days: int, *, seed: int, calendar: TradingCalendar, source: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``days`` closed daily bars of ``info`` before ``before``: (start ms, KLineData payload).

    Deterministic in (seed, symbol, before): a restarted simulator generates the same bars.
    """
    trading = trading_days_before(before, days, calendar)
    rng = random.Random(f"{seed}:{info.symbol}:{before.isoformat()}:history")
    closes = _closes(info, len(trading), rng)
    tick = info.price_tick
    # Shares a day: a few thousand lots for a mid cap, fewer for a dear stock.
    base_volume = max(100.0, 4e8 / max(info.prev_close, 1.0) / 100)
    previous = closes[0]
    for day, close in zip(trading, closes, strict=True):
        up, down = limit_prices(previous, info.board, st=info.is_st, tick=tick)
        gap = rng.gauss(0, DAILY_SIGMA / 3)
        open_ = min(max(round_to_tick(previous * (1 + gap), tick), down), up)
        spread = abs(rng.gauss(0, DAILY_SIGMA / 2))
        high = min(round_to_tick(max(open_, close) * (1 + spread), tick), up)
        low = max(round_to_tick(min(open_, close) * (1 - spread), tick), down)
        lots = int(base_volume * math.exp(rng.gauss(0, 0.4)))
        volume = max(lots, 1) * 100
        amount = round(volume * (open_ + high + low + close) / 4, 2)
        start_ms = day_start_ms(day)
        yield (
            start_ms,
            {
                "symbol": info.symbol,
                "timestamp": epoch_ms_to_iso(start_ms),  # a day bar's label is its 00:00
                "start": epoch_ms_to_iso(start_ms),
                "period": DAY_PERIOD,
                "open": open_,
                "high": max(high, open_, close),
                "low": min(low, open_, close),
                "close": close,
                "volume": volume,
                "amount": amount,
                "closed": True,
                "source": source,
            },
        )
        previous = close
