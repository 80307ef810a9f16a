"""Per-symbol trading status from quotes: halts and price limits, as events on a change only.

Every source runs the same tracker over the quotes it publishes, and the event's
``Nats-Msg-Id`` is built from the data alone, so a primary and a backup announce a change
once. Halt phases come from the source (xtquant's ``openInt``); a limit is reached when the
last price sits on the day's limit price.
"""

from __future__ import annotations

from typing import Any

from schemas import TradingPhase
from schemas.events import SymbolEvent

HALT_PHASES = frozenset(
    {
        TradingPhase.HALTED.value,
        TradingPhase.SUSPENDED_TO_CLOSE.value,
        TradingPhase.VOLATILITY_BREAK.value,
    }
)
_LIMIT_EVENT = {1: SymbolEvent.LIMIT_UP, -1: SymbolEvent.LIMIT_DOWN, 0: SymbolEvent.LIMIT_CLEARED}


def status_msg_id(symbol: str, event: str, ts_ms: int) -> str:
    return f"symstatus:{symbol}:{event}:{ts_ms}"


class SymbolStatusTracker:
    """Remembers each symbol's halt and limit state; :meth:`update` returns what changed."""

    __slots__ = ("_halted", "_limit")

    def __init__(self) -> None:
        self._halted: dict[str, bool] = {}
        self._limit: dict[str, int] = {}  # +1 at limit up, -1 at limit down, 0 inside

    def update(self, quote: dict[str, Any], ts_ms: int) -> list[tuple[dict[str, Any], str]]:
        """Events (payload, Nats-Msg-Id) for one normalized quote; usually none.

        A symbol first seen halted or at a limit is announced; first seen normal is not.
        """
        symbol = quote["symbol"]
        events: list[SymbolEvent] = []
        halted = quote["phase"] in HALT_PHASES
        was_halted = self._halted.get(symbol)
        if halted != bool(was_halted) and (halted or was_halted is not None):
            events.append(SymbolEvent.HALTED if halted else SymbolEvent.RESUMED)
        self._halted[symbol] = halted
        last = quote["last_price"]
        if last > 0:  # no trade yet (before the open): no opinion on limits
            limit = 1 if last >= quote["limit_up"] > 0 else -1 if last <= quote["limit_down"] else 0
            was_limit = self._limit.get(symbol)
            if limit != (was_limit or 0) and (limit != 0 or was_limit is not None):
                events.append(_LIMIT_EVENT[limit])
            self._limit[symbol] = limit
        return [(self._payload(quote, e), status_msg_id(symbol, e, ts_ms)) for e in events]

    @staticmethod
    def _payload(quote: dict[str, Any], event: SymbolEvent) -> dict[str, Any]:
        return {
            "event": event.value,
            "symbol": quote["symbol"],
            "timestamp": quote["timestamp"],
            "phase": quote["phase"],
            "last_price": quote["last_price"],
            "limit_up": quote["limit_up"],
            "limit_down": quote["limit_down"],
            "source": quote["source"],
        }
