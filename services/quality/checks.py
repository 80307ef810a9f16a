"""Per-symbol checks of the published quotes, whatever their source. Pure.

Each quote is checked as it comes (timestamps going backwards, cumulative volume going down,
the last price outside the limit band, limits no rule allows: ±5 % for ST, none for an index
or a new listing, a crossed book while trading continuously); a
finding stays active until a good quote clears it. Staleness is judged by :meth:`scan`,
during continuous trading only, and never for a halted symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import TradingPhase, epoch_ms_to_iso
from schemas.quality import FindingKind, Severity
from schemas.symbols import limits_fit_rule
from services.calendar import shanghai_day
from services.quality.findings import FindingsBook
from services.symbolstatus import HALT_PHASES

_CONTINUOUS = TradingPhase.CONTINUOUS.value


@dataclass(slots=True)
class _Seen:
    day: int
    max_ts: int
    max_volume: int
    received_ms: int  # wall clock when its last quote arrived
    phase: str
    source: str


class QuoteChecks:
    def __init__(self, book: FindingsBook) -> None:
        self._book = book
        self._seen: dict[str, _Seen] = {}
        self.quotes = 0

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, quote: dict[str, Any], ts_ms: int, now_ms: int) -> None:
        """One published quote, received at ``now_ms`` (wall clock)."""
        self.quotes += 1
        book = self._book
        symbol, source = quote["symbol"], quote.get("source", "?")
        day = shanghai_day(ts_ms)
        seen = self._seen.get(symbol)
        if seen is None or day > seen.day:  # a new day: volumes start from zero again
            seen = self._seen[symbol] = _Seen(day, ts_ms, 0, now_ms, quote["phase"], source)
        seen.received_ms, seen.phase, seen.source = now_ms, quote["phase"], source
        book.clear(FindingKind.STALE, symbol, now_ms)

        def flag(kind: FindingKind, bad: bool, detail: str, severity: Severity = "warning") -> None:
            if bad:
                book.raise_(
                    kind,
                    symbol,
                    now_ms,
                    detail,
                    symbol=symbol,
                    source=source,
                    severity=severity,
                )
            else:
                book.clear(kind, symbol, now_ms)

        backwards = ts_ms < seen.max_ts
        flag(
            FindingKind.TIMESTAMP_BACKWARDS,
            backwards,
            f"{epoch_ms_to_iso(ts_ms)} after {epoch_ms_to_iso(seen.max_ts)}",
        )
        volume = quote["volume"]
        flag(
            FindingKind.VOLUME_DOWN,
            volume < seen.max_volume,
            f"cumulative volume {volume} after {seen.max_volume}",
            "error",
        )
        if not backwards:
            seen.max_ts = ts_ms
        seen.max_volume = max(seen.max_volume, volume)
        last, up, down = quote["last_price"], quote["limit_up"], quote["limit_down"]
        flag(
            FindingKind.PRICE_OUTSIDE_BAND,
            last > 0 and up > 0 and not down <= last <= up,
            f"last {last} outside [{down}, {up}]",
            "error",
        )
        prev = quote.get("prev_close", 0.0)
        flag(
            FindingKind.LIMIT_RULE,
            not limits_fit_rule(symbol, prev, up, down),
            f"limits [{down}, {up}] on a previous close of {prev} fit no rule of its kind",
        )
        bid, ask = quote["bid_price"], quote["ask_price"]
        flag(  # auctions show an indicative, crossed book: only continuous trading counts
            FindingKind.CROSSED_BOOK,
            quote["phase"] == _CONTINUOUS and bid > 0 and ask > 0 and bid >= ask,
            f"bid {bid} >= ask {ask}",
        )

    def scan(self, now_ms: int, trading_since_ms: int | None, stale_after_ms: int) -> None:
        """Raise or clear staleness; ``trading_since_ms`` None: the market is not trading."""
        book = self._book
        if trading_since_ms is None:
            for symbol in book.keys(FindingKind.STALE):
                book.clear(FindingKind.STALE, symbol, now_ms)
            return
        for symbol, seen in self._seen.items():
            quiet_ms = now_ms - max(seen.received_ms, trading_since_ms)
            if quiet_ms > stale_after_ms and seen.phase not in HALT_PHASES:
                detail = f"no quote for {quiet_ms / 1000:.0f} s while trading"
                book.raise_(
                    FindingKind.STALE, symbol, now_ms, detail, symbol=symbol, source=seen.source
                )
