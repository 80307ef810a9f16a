"""The market simulator: a deterministic, realistic A-share market for demos and tests."""

from __future__ import annotations

from services.calendar import TradingCalendar, phase_at
from services.sim.adapter import SimAdapter
from services.sim.clock import SimClock
from services.sim.market import Snapshot, SymbolMarket
from services.sim.universe import build_universe

__all__ = [
    "SimAdapter",
    "SimClock",
    "Snapshot",
    "SymbolMarket",
    "TradingCalendar",
    "build_universe",
    "phase_at",
]
