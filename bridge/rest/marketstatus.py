"""``GET /v1/market/status``: trading phase and source health, as the status board sees them.

The board (bridge/market/statusboard.py) follows ``md.status.>`` for the dashboard and the
admin API; this is the same view for REST clients, so the three never disagree about a source.
Whether today trades comes from KV ``md_calendar``, the holidays the adapters agreed on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bridge.market.statusboard import StatusBoard
from schemas import TradingPhase
from schemas.timefmt import now_iso
from schemas.tradingcalendar import CALENDAR_BUCKET, HolidayYear, is_trading_day


def _phase(value: Any) -> TradingPhase | None:
    try:
        return TradingPhase(value)
    except ValueError:
        return None


async def holidays_of(js: JetStreamContext, year: int) -> HolidayYear | None:
    """``year``'s entry of KV ``md_calendar`` (written by the adapters), None if there is none."""
    try:
        kv = await js.key_value(CALENDAR_BUCKET)
        entry = await kv.get(str(year))
    except (NotFoundError, NatsError):
        return None
    return HolidayYear.model_validate_json(entry.value) if entry.value else None


def market_status(
    board: StatusBoard,
    *,
    nats_connected: bool,
    epochs: dict[str, str],
    today: date | None = None,
    holidays: HolidayYear | None = None,
) -> dict[str, Any]:
    """The ``MarketStatus`` body: every source's last word, the phase of the first one up, and
    whether ``today`` trades by the shared calendar (a weekend never does; a weekday needs the
    year's holidays to say: None without them). No source up on a day off: ``closed``."""
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
    trading_day: bool | None = None
    if today is not None and (today.weekday() >= 5 or holidays is not None):
        trading_day = is_trading_day(today, set(holidays.holidays) if holidays else set())
    if phase is TradingPhase.UNKNOWN and trading_day is False:
        phase = TradingPhase.CLOSED
    return {
        "phase": phase,
        "trading_day": trading_day,
        "calendar_source": holidays.source if holidays is not None else None,
        "sources": sources,
        "nats_connected": nats_connected,
        "epochs": epochs,
        "timestamp": now_iso(),
    }
