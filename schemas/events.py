"""Per-symbol trading-status events: halts and price limits, as clients receive them.

Adapters publish one on ``md.status.symbol.<code>.<market>`` when a symbol's state changes;
the bridge forwards it as a ``status`` frame to the connections subscribed to that symbol
(directly or through its market wildcard). The quote's ``phase`` carries the same state, so a
snapshot already tells a new subscriber where the symbol stands.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.market import Price, TradingPhase


class SymbolEvent(StrEnum):
    """Values of ``status.data.event`` for a symbol; also members of ``StatusEvent``."""

    HALTED = "halted"  # trading suspended: temporary halt, volatility break, halted to the close
    RESUMED = "resumed"  # trading again after a halt
    LIMIT_UP = "limit_up"  # last price at the day's upper limit
    LIMIT_DOWN = "limit_down"  # last price at the day's lower limit
    LIMIT_CLEARED = "limit_cleared"  # trading inside the band again


class SymbolStatusData(BaseModel):
    """Payload on ``md.status.symbol.<symbol>`` and ``data`` of the forwarded status frame."""

    model_config = ConfigDict(extra="allow", frozen=True)

    event: SymbolEvent
    symbol: str
    timestamp: datetime = Field(description="source time of the quote that showed it")
    phase: TradingPhase
    last_price: Price
    limit_up: Price
    limit_down: Price
    source: str
