"""``Nats-Msg-Id`` values, built from the data alone so every source builds the same ones.

A primary and a backup adapter (or a restarted one) publishing the same tick then dedupe in
the broker within the stream's duplicate window.
"""

from __future__ import annotations


def quote_id(symbol: str, ts_ms: int) -> str:
    return f"quote:{symbol}:{ts_ms}"


def depth_id(symbol: str, ts_ms: int) -> str:
    return f"depth:{symbol}:{ts_ms}"


def trade_id(symbol: str, trade: str) -> str:
    """``trade`` is the trade's own id (unique per symbol and day)."""
    return f"trade:{symbol}:{trade}"


def kline_id(period: str, symbol: str, start_ms: int, volume: int, closed: bool) -> str:
    """A bar state: an update with nothing new, or a repeated final, is a duplicate."""
    return f"kline:{period}:{symbol}:{start_ms}:{volume}:{'true' if closed else 'false'}"


def symbol_entry_id(symbol: str, digest: int) -> str:
    """A directory entry, by content: only an unchanged entry is deduplicated."""
    return f"symbol:{symbol}:{digest:08x}"
