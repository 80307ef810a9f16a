"""xtquant's daily bars into the history stream, on start and after each close.

``download_history_data2`` fills MiniQMT's local store, ``get_market_data_ex`` reads it
(``dividend_type="none"``: unadjusted, as traded, like the live bars), and the shared backfill
(services/history/backfill.py) publishes what the stream does not hold yet. Symbols go in
chunks of ``history_progress_every``, a log line each: a whole-market download takes minutes
and holds the xtdata owner thread (live pushes arrive on xtquant's own threads meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from nats.js import JetStreamContext

from schemas import SHANGHAI
from schemas.history import DAY_PERIOD
from services.calendar import DAY_MS, SHANGHAI_OFFSET_MS, shanghai_day
from services.history import backfill
from services.publisher import Publisher
from services.xtquant.link import XtLink
from services.xtquant.normalize import Normalizer

logger = logging.getLogger(__name__)

CALENDAR_DAYS_PER_TRADING_DAY = 1.5  # weekends and holidays: ~244 trading days a year
CLOSED_AFTER_MS = (15 * 60 + 5) * 60_000  # today's daily bar is final after 15:05


def start_date(now_ms: int, trading_days: int) -> str:
    """``YYYYMMDD`` far enough back for ``trading_days`` daily bars."""
    now = datetime.fromtimestamp(now_ms / 1000, SHANGHAI)
    back = timedelta(days=int(trading_days * CALENDAR_DAYS_PER_TRADING_DAY) + 7)
    return (now - back).strftime("%Y%m%d")


def final_bars(
    norm: Normalizer, symbol: str, records: list[dict[str, Any]], now_ms: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Closed daily bars: every day before today, and today's once the session is over."""
    today, day_ms = divmod(now_ms + SHANGHAI_OFFSET_MS, DAY_MS)
    for raw in records:
        mapped = norm.bar(symbol, DAY_PERIOD, raw)
        if mapped is None:
            continue
        start_ms, payload = mapped
        day = shanghai_day(start_ms)
        if day > today or (day == today and day_ms < CLOSED_AFTER_MS):
            continue  # still forming: the live bars carry it
        yield start_ms, {**payload, "closed": True}


async def backfill_daily(
    link: XtLink,
    norm: Normalizer,
    js: JetStreamContext,
    publisher: Publisher,
    symbols: Sequence[str],
    *,
    days: int,
    chunk: int,
    now_ms: int,
) -> int:
    """Download and store ``days`` daily bars of every symbol; returns the bars published."""
    start = start_date(now_ms, days)
    published = 0
    logger.info("xtquant history: %d symbols from %s, unadjusted", len(symbols), start)
    for i in range(0, len(symbols), chunk):
        part = symbols[i : i + chunk]
        records = await link.daily_history(part, start)
        series = [
            (symbol, list(final_bars(norm, symbol, records.get(symbol, []), now_ms))[-days:])
            for symbol in part
        ]
        result = await backfill(js, publisher, DAY_PERIOD, series, progress_every=chunk + 1)
        published += result.published
        logger.info(
            "xtquant history: %d/%d symbols, %d bars published",
            i + len(part),
            len(symbols),
            published,
        )
    return published
