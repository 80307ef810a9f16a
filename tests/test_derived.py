"""Trades derived from snapshots, and symbol status events from quotes (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import SHANGHAI
from schemas.events import SymbolStatusData
from services.symbolstatus import SymbolStatusTracker
from services.trades import TradeDeriver
from tests.support.quotes import bare_quote as quote

T0 = int(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)


def test_trades_are_the_volume_between_snapshots() -> None:
    deriver = TradeDeriver()
    assert deriver.update(quote(T0, 10.0, 1000), T0) is None  # first sight: nothing to diff
    assert deriver.update(quote(T0 + 3000, 10.0, 1000), T0 + 3000) is None  # nothing traded
    buy = deriver.update(quote(T0 + 6000, 10.01, 1500), T0 + 6000)  # at the earlier ask
    sell = deriver.update(quote(T0 + 9000, 10.0, 1600), T0 + 9000)  # at the earlier bid
    flat = deriver.update(quote(T0 + 12000, 10.0, 1700), T0 + 12000)
    assert buy is not None
    assert sell is not None
    assert flat is not None
    assert (buy["volume"], buy["direction"], buy["trade_id"]) == (500, "buy", "20261120-v1500")
    assert (sell["volume"], sell["direction"]) == (100, "sell")
    assert round(buy["amount"], 2) == round(1500 * 10.01 - 1000 * 10.0, 2)
    assert buy["derived"] is True
    # inside the earlier spread: the tick rule, and an unchanged price is neutral
    assert flat["direction"] == "neutral"
    tomorrow = T0 + 86_400_000
    assert deriver.update(quote(tomorrow, 10.0, 200), tomorrow) is None  # a new day restarts


def test_status_events_fire_on_changes_only() -> None:
    tracker = SymbolStatusTracker()

    def events(q: dict[str, Any], ts: int) -> list[str]:
        out = tracker.update(q, ts)
        for payload, msg_id in out:
            SymbolStatusData.model_validate(payload)
            assert msg_id == f"symstatus:600000.SH:{payload['event']}:{ts}"
        return [payload["event"] for payload, _ in out]

    assert events(quote(T0, 10.0, 1), T0) == []
    assert events(quote(T0 + 1, 11.22, 2), T0 + 1) == ["limit_up"]
    assert events(quote(T0 + 2, 11.22, 3), T0 + 2) == []
    assert events(quote(T0 + 3, 11.22, 3, phase="halted"), T0 + 3) == ["halted"]
    assert events(quote(T0 + 4, 9.18, 4), T0 + 4) == ["resumed", "limit_down"]
    assert events(quote(T0 + 5, 9.5, 5), T0 + 5) == ["limit_cleared"]
    assert events(quote(T0 + 6, 0.0, 0, phase="suspended_to_close"), T0 + 6) == ["halted"]
    fresh = SymbolStatusTracker()  # first seen halted at a limit: both announced
    assert [p["event"] for p, _ in fresh.update(quote(T0, 11.22, 1, phase="halted"), T0)] == [
        "halted",
        "limit_up",
    ]
