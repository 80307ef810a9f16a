"""A minimal normalized quote for the pure checks (the fields they read, nothing more)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import SHANGHAI


def bare_quote(ts_ms: int, last: float = 10.0, volume: int = 1000, **extra: Any) -> dict[str, Any]:
    """600000.SH at ``ts_ms``: a 0.02 spread around ``last``, limits 11.22 / 9.18."""
    return {
        "symbol": "600000.SH",
        "timestamp": datetime.fromtimestamp(ts_ms / 1000, SHANGHAI).isoformat(
            timespec="milliseconds"
        ),
        "last_price": last,
        "volume": volume,
        "amount": volume * last,
        "bid_price": round(last - 0.01, 2),
        "ask_price": round(last + 0.01, 2),
        "limit_up": 11.22,
        "limit_down": 9.18,
        "phase": "continuous",
        "source": "src",
    } | extra
