"""The K-line history store: one long-lived stream per period, closed bars only (pure data).

md.bar.<period>.<code>.<market>   MD_BAR_<PERIOD>   one message per closed bar, oldest first

Retention is a number of bars per subject (``max_msgs_per_subject``), not an age: a backfill
stores years of daily bars in one afternoon, so the broker's store time says nothing about a
bar's age. Why a stream and not KV or the object store: docs/architecture.md ("History").
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.subjects import KLINE_PERIODS, SUBJECT_ROOT
from schemas.symbols import is_symbol

BAR_PREFIX = f"{SUBJECT_ROOT}.bar"
DAY_PERIOD = "1d"
#: Bars of each intraday period in one A-share session (240 trading minutes).
BARS_PER_SESSION: dict[str, int] = {"1m": 240, "5m": 48, "15m": 16, "30m": 8, "60m": 4}
#: What the served bars are: prices as traded, no dividend or split adjustment.
ADJUSTMENT = "none"


def history_stream(period: str) -> str:
    """``MD_BAR_1D`` for ``1d``: each period its own stream, so each its own retention."""
    if period not in KLINE_PERIODS:
        raise ValueError(f"unknown kline period {period!r}")
    return f"MD_BAR_{period.upper()}"


def history_subject(period: str, symbol: str) -> str:
    """``md.bar.1d.600000.SH``: the closed bars of one symbol and period."""
    if not is_symbol(symbol):
        raise ValueError(f"not a symbol: {symbol[:40]!r}")
    history_stream(period)  # checks the period
    return f"{BAR_PREFIX}.{period}.{symbol}"


def bar_id(period: str, symbol: str, start_ms: int) -> str:
    """``Nats-Msg-Id`` of a closed bar: by its identity alone, so any two copies dedupe."""
    return f"bar:{period}:{symbol}:{start_ms}"


@dataclass(frozen=True, slots=True)
class HistoryRetention:
    """How much history to keep: daily bars, and trading days of each intraday period."""

    daily_bars: int = 2500  # ~10 years of 244 trading days
    minute_days: int = 20  # ~one month of 1m..60m bars

    def bars(self, period: str) -> int:
        """Bars kept per symbol for ``period`` (the stream's ``max_msgs_per_subject``)."""
        if period == DAY_PERIOD:
            return self.daily_bars
        return self.minute_days * BARS_PER_SESSION[period]
