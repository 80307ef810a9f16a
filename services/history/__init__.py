"""Bar history: closed bars into the MD_BAR_* streams, live and backfilled (schemas/history.py)."""

from __future__ import annotations

from services.history.backfill import backfill
from services.history.simbars import daily_history
from services.history.writer import HistoryWriter

__all__ = ["HistoryWriter", "backfill", "daily_history"]
