"""Trades inferred from consecutive snapshots, for sources without tick-by-tick data.

Between two snapshots of a symbol the cumulative volume grew: that much traded, the last of
it at the later snapshot's last price. The aggressor is judged against the earlier book (at
or above its ask: a buyer; at or below its bid: a seller), else by the tick rule. Marked
``derived: true``; the id is the day and the cumulative volume, so two sources that saw the
same snapshots derive the same trade ids (and dedupe in the broker).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from services.calendar import shanghai_day


class _Seen(NamedTuple):
    day: int
    volume: int
    amount: float
    bid: float
    ask: float
    last: float


class TradeDeriver:
    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def update(self, quote: dict[str, Any], ts_ms: int) -> dict[str, Any] | None:
        """The TradeData payload for what traded since the symbol's previous quote, or None."""
        symbol = quote["symbol"]
        day = shanghai_day(ts_ms)
        volume, amount, last = quote["volume"], quote["amount"], quote["last_price"]
        before = self._seen.get(symbol)
        if before is not None and (before.day != day or volume < before.volume):
            before = None  # a new day (or a reset): nothing to compare with
        if before is None or volume >= before.volume:
            self._seen[symbol] = _Seen(
                day, volume, amount, quote["bid_price"], quote["ask_price"], last
            )
        if before is None or volume <= before.volume or last <= 0:
            return None
        if before.ask > 0 and last >= before.ask:
            direction = "buy"
        elif before.bid > 0 and last <= before.bid:
            direction = "sell"
        else:
            direction = "buy" if last > before.last else "sell" if last < before.last else "neutral"
        timestamp = quote["timestamp"]
        return {
            "symbol": symbol,
            "timestamp": timestamp,
            "price": last,
            "volume": volume - before.volume,
            "amount": round(max(amount - before.amount, 0.0), 2),
            "direction": direction,
            "trade_id": f"{timestamp[:10].replace('-', '')}-v{volume}",
            "derived": True,
            "source": quote["source"],
        }
