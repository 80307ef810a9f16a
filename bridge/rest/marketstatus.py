"""``GET /v1/market/status``: trading phase and source health, as the status board sees them.

The board (bridge/market/statusboard.py) follows ``md.status.>`` for the dashboard and the
admin API; this is the same view for REST clients, so the three never disagree about a source.
"""

from __future__ import annotations

from typing import Any

from bridge.market.statusboard import StatusBoard
from schemas import TradingPhase
from schemas.timefmt import now_iso


def _phase(value: Any) -> TradingPhase | None:
    try:
        return TradingPhase(value)
    except ValueError:
        return None


def market_status(
    board: StatusBoard, *, nats_connected: bool, epochs: dict[str, str]
) -> dict[str, Any]:
    """The ``MarketStatus`` body: every source's last word, and the phase of the first one up."""
    sources = [
        {
            "source": row["source"],
            "up": row["up"],
            "event": row["event"] or None,
            "phase": _phase(row["status"].get("phase")),
            "last_seen": row["stored_at"],
            "age_s": row["age_s"],
        }
        for row in board.sources()
    ]
    phase = next(
        (s["phase"] for s in sources if s["up"] and s["phase"] is not None), TradingPhase.UNKNOWN
    )
    return {
        "phase": phase,
        "sources": sources,
        "nats_connected": nats_connected,
        "epochs": epochs,
        "timestamp": now_iso(),
    }
