"""xtquant's bar history into the history streams, on start and after each close.

``download_history_data2`` fills MiniQMT's local store, ``get_market_data_ex`` reads it
(``dividend_type="none"``: unadjusted, as traded, like the live bars), and the shared backfill
(services/history/backfill.py) publishes what the streams do not hold yet: daily bars for
``history_backfill_days``, each intraday period for ``history_minute_days``. Only finished
days go in (today's bars after the close): today's earlier bars are the live ones. Symbols go
in chunks of ``history_progress_every``, a log line each: a whole-market download takes
minutes and holds the xtdata owner thread (live pushes arrive on xtquant's own threads).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from nats.js import JetStreamContext

from schemas import KLINE_PERIODS, SHANGHAI
from schemas.history import BARS_PER_SESSION, DAY_PERIOD
from services.calendar import DAY_MS, SHANGHAI_OFFSET_MS, shanghai_day
from services.history import backfill
from services.publisher import Publisher
from services.xtquant.link import XtLink
from services.xtquant.normalize import Normalizer

logger = logging.getLogger(__name__)

CALENDAR_DAYS_PER_TRADING_DAY = 1.5  # weekends and holidays: ~244 trading days a year
CLOSED_AFTER_MS = (15 * 60 + 5) * 60_000  # today's bars are all final after 15:05


class HistoryPlan(NamedTuple):
    period: str
    trading_days: int

    @property
    def bars(self) -> int:
        return self.trading_days * (
            1 if self.period == DAY_PERIOD else BARS_PER_SESSION[self.period]
        )


def plans(daily_days: int, minute_days: int) -> list[HistoryPlan]:
    """What to download: the day bars first (the most asked for), then 1m … 60m."""
    return [
        HistoryPlan(period, daily_days if period == DAY_PERIOD else minute_days)
        for period in (DAY_PERIOD, *(p for p in KLINE_PERIODS if p != DAY_PERIOD))
        if (daily_days if period == DAY_PERIOD else minute_days) > 0
    ]


def start_date(now_ms: int, trading_days: int) -> str:
    """``YYYYMMDD`` far enough back for ``trading_days`` trading days."""
    now = datetime.fromtimestamp(now_ms / 1000, SHANGHAI)
    back = timedelta(days=int(trading_days * CALENDAR_DAYS_PER_TRADING_DAY) + 7)
    return (now - back).strftime("%Y%m%d")


def final_bars(
    norm: Normalizer, symbol: str, period: str, records: list[dict[str, Any]], now_ms: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Closed bars: those of every day before today, and today's once the session is over."""
    today, day_ms = divmod(now_ms + SHANGHAI_OFFSET_MS, DAY_MS)
    for raw in records:
        mapped = norm.bar(symbol, period, raw)
        if mapped is None:
            continue
        start_ms, payload = mapped
        day = shanghai_day(start_ms)
        if day > today or (day == today and day_ms < CLOSED_AFTER_MS):
            continue  # today's, still trading: the live bars carry them
        yield start_ms, {**payload, "closed": True}


async def backfill_history(
    link: XtLink,
    norm: Normalizer,
    js: JetStreamContext,
    publisher: Publisher,
    symbols: Sequence[str],
    *,
    daily_days: int,
    minute_days: int,
    chunk: int,
    now_ms: int,
) -> int:
    """Download and store every planned period of every symbol; returns the bars published."""
    published = 0
    for plan in plans(daily_days, minute_days):
        start = start_date(now_ms, plan.trading_days)
        logger.info(
            "xtquant history %s: %d symbols from %s, unadjusted", plan.period, len(symbols), start
        )
        for i in range(0, len(symbols), chunk):
            part = symbols[i : i + chunk]
            records = await link.history(part, plan.period, start)
            series = [
                (
                    s,
                    list(final_bars(norm, s, plan.period, records.get(s, []), now_ms))[
                        -plan.bars :
                    ],
                )
                for s in part
            ]
            result = await backfill(js, publisher, plan.period, series, progress_every=chunk + 1)
            published += result.published
            logger.info(
                "xtquant history %s: %d/%d symbols, %d bars published",
                plan.period,
                i + len(part),
                len(symbols),
                published,
            )
    return published
