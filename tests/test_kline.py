from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from schemas import SHANGHAI, KLineData, TradingPhase
from services.kline import KLineAggregator, KLineEvent, session_minute

C = TradingPhase.CONTINUOUS
PERIODS = ("1m", "5m", "15m", "30m", "60m", "1d")


def ms(hour: int, minute: int, second: int = 0, day: int = 20) -> int:
    return int(datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI).timestamp() * 1000)


def iso(hour: int, minute: int, day: int = 20) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00.000+08:00"


class Feed:
    """Feeds hand-built ticks (cumulative volume/amount) and keeps every emission."""

    def __init__(self, **kwargs: Any) -> None:
        self.agg = KLineAggregator("600000.SH", "test", **kwargs)
        self.events: list[KLineEvent] = []

    def tick(
        self, ts: int, price: float, volume: int, amount: float, phase: TradingPhase = C
    ) -> list[KLineEvent]:
        out = self.agg.update(ts, price, volume, amount, phase)
        self.events += out
        return out

    def open(self, price: float = 10.0) -> None:
        """The opening match at 09:25: 100 shares, so later ticks are not a mid-day join."""
        self.tick(ms(9, 25, 1), price, 100, price * 100, TradingPhase.PRE_CONTINUOUS)

    def close_all(self) -> list[KLineEvent]:
        out = self.agg.close_all()
        self.events += out
        return out

    def finals(self, period: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.period == period and e.closed]


def bar(
    period: str,
    end: str,
    start: str,
    o: float,
    h: float,
    low: float,
    c: float,
    v: int,
    a: float,
    closed: bool,
) -> dict[str, Any]:
    return {
        "symbol": "600000.SH",
        "timestamp": end,
        "start": start,
        "period": period,
        "open": o,
        "high": h,
        "low": low,
        "close": c,
        "volume": v,
        "amount": a,
        "closed": closed,
        "source": "test",
    }


def test_opening_auction_folds_into_the_0930_bar() -> None:
    feed = Feed()
    assert feed.tick(ms(9, 20), 10.00, 0, 0.0, TradingPhase.OPENING_AUCTION) == []
    out = feed.tick(ms(9, 25, 3), 10.05, 1000, 10050.0, TradingPhase.PRE_CONTINUOUS)
    assert [e.payload for e in out] == [
        bar("1m", iso(9, 31), iso(9, 30), 10.05, 10.05, 10.05, 10.05, 1000, 10050.0, False)
    ]
    feed.tick(ms(9, 30, 1), 10.10, 1500, 15100.0)
    feed.tick(ms(9, 30, 40), 10.08, 1800, 18124.0)
    out = feed.tick(ms(9, 31, 2), 10.12, 2000, 20148.0)
    by_period = {(e.period, e.closed): e.payload for e in out}
    assert by_period["1m", True] == bar(
        "1m", iso(9, 31), iso(9, 30), 10.05, 10.10, 10.05, 10.08, 1800, 18124.0, True
    )
    assert by_period["1m", False] == bar(
        "1m", iso(9, 32), iso(9, 31), 10.12, 10.12, 10.12, 10.12, 200, 2024.0, False
    )
    # Longer periods publish their update when a minute closes, through that minute.
    assert by_period["5m", False] == bar(
        "5m", iso(9, 35), iso(9, 30), 10.05, 10.10, 10.05, 10.08, 1800, 18124.0, False
    )
    assert by_period["60m", False]["timestamp"] == iso(10, 30)
    assert by_period["1d", False] == bar(
        "1d", iso(0, 0), iso(0, 0), 10.05, 10.10, 10.05, 10.08, 1800, 18124.0, False
    )
    assert set(by_period) == {("1m", True), *((p, False) for p in PERIODS)}
    for event in out:
        KLineData.model_validate(event.payload)


def test_an_indicative_price_never_shapes_a_bar() -> None:
    feed = Feed()
    feed.tick(ms(9, 16), 11.00, 0, 0.0, TradingPhase.OPENING_AUCTION)
    feed.tick(ms(9, 24), 9.00, 0, 0.0, TradingPhase.OPENING_AUCTION)
    feed.tick(ms(9, 25, 1), 10.00, 500, 5000.0, TradingPhase.PRE_CONTINUOUS)
    feed.close_all()
    assert feed.finals("1m") == [
        bar("1m", iso(9, 31), iso(9, 30), 10.0, 10.0, 10.0, 10.0, 500, 5000.0, True)
    ]


def test_lunch_break_belongs_to_the_last_morning_bar() -> None:
    feed = Feed()
    feed.open()
    feed.tick(ms(11, 29, 1), 10.00, 1000, 10000.0)
    out = feed.tick(ms(11, 30, 2), 10.01, 1100, 11001.0, TradingPhase.LUNCH_BREAK)
    assert [(e.period, e.closed, e.payload["timestamp"]) for e in out] == [
        ("1m", False, iso(11, 30))
    ]
    assert feed.tick(ms(12, 0), 10.01, 1100, 11001.0, TradingPhase.LUNCH_BREAK) == []
    out = feed.tick(ms(13, 0, 2), 10.03, 1300, 13007.0)
    closed = {e.period: e.payload for e in out if e.closed}
    assert closed["1m"] == bar(
        "1m", iso(11, 30), iso(11, 29), 10.0, 10.01, 10.0, 10.01, 1000, 10001.0, True
    )
    assert closed["5m"]["timestamp"] == iso(11, 30)
    assert closed["60m"]["timestamp"] == iso(11, 30)  # 60m bars: 10:30, 11:30, 14:00, 15:00
    assert "1d" not in closed
    opened = {e.period: e.payload for e in out if not e.closed}
    assert opened["1m"] == bar(
        "1m", iso(13, 1), iso(13, 0), 10.03, 10.03, 10.03, 10.03, 200, 2006.0, False
    )
    assert "60m" not in opened, "a new longer bar waits for its first whole minute"
    assert opened["1d"]["volume"] == 1100  # through the 11:29 minute
    later = {e.period: e.payload for e in feed.tick(ms(13, 1, 2), 10.04, 1400, 14011.0)}
    assert later["60m"] == bar(
        "60m", iso(14, 0), iso(13, 0), 10.03, 10.03, 10.03, 10.03, 200, 2006.0, False
    )


def test_closing_auction_and_close_all() -> None:
    feed = Feed()
    feed.open()
    feed.tick(ms(14, 56, 30), 9.90, 5000, 49600.0)
    auction = TradingPhase.CLOSING_AUCTION
    out = feed.tick(ms(14, 57, 30), 9.90, 5000, 49600.0, auction)  # no trade: a flat bar
    assert [(e.period, e.closed) for e in out if e.period == "1m"] == [("1m", True), ("1m", False)]
    feed.tick(ms(14, 58, 30), 9.90, 5000, 49600.0, auction)
    feed.tick(ms(14, 59, 57), 9.90, 5000, 49600.0, auction)
    feed.tick(ms(15, 0, 2), 9.95, 8000, 79450.0, TradingPhase.CLOSED)  # the closing match
    out = feed.close_all()
    assert all(e.closed for e in out)
    assert [e.period for e in out] == list(PERIODS)
    ones = feed.finals("1m")[-4:]
    assert [p["timestamp"] for p in ones] == [iso(14, 57), iso(14, 58), iso(14, 59), iso(15, 0)]
    assert ones[0] == bar("1m", iso(14, 57), iso(14, 56), 9.9, 9.9, 9.9, 9.9, 4900, 48600.0, True)
    assert ones[1] == bar("1m", iso(14, 58), iso(14, 57), 9.9, 9.9, 9.9, 9.9, 0, 0.0, True)
    assert ones[3] == bar("1m", iso(15, 0), iso(14, 59), 9.9, 9.95, 9.9, 9.95, 3000, 29850.0, True)
    assert feed.finals("5m")[-1] == bar(
        "5m", iso(15, 0), iso(14, 55), 9.9, 9.95, 9.9, 9.95, 7900, 78450.0, True
    )
    assert feed.finals("1d") == [
        bar("1d", iso(0, 0), iso(0, 0), 10.0, 10.0, 9.9, 9.95, 8000, 79450.0, True)
    ]
    assert feed.tick(ms(15, 5), 9.95, 8000, 79450.0, TradingPhase.CLOSED) == []  # day sealed


def test_volume_is_the_difference_of_cumulative_totals_and_5m_from_the_same_ticks() -> None:
    feed = Feed()
    cumulative = 0
    amount = 0.0
    prices = [10.0, 10.02, 9.98, 10.05, 10.01, 10.03, 10.07, 10.04, 9.99, 10.0]
    for minute in range(10):  # 09:30 to 09:39, three ticks a minute
        for second, extra in ((5, 100), (25, 200), (45, 300)):
            cumulative += extra
            price = prices[minute] + (0.01 if second == 25 else 0.0)
            amount += round(price * extra, 2)
            feed.tick(ms(9, 30 + minute, second), round(price, 2), cumulative, round(amount, 2))
    feed.close_all()
    ones = feed.finals("1m")
    fives = feed.finals("5m")
    assert len(ones) == 10
    assert all(p["volume"] == 600 for p in ones)
    assert sum(p["volume"] for p in ones) == cumulative
    assert [p["timestamp"] for p in fives] == [iso(9, 35), iso(9, 40)]
    for five, group in zip(fives, (ones[:5], ones[5:]), strict=True):
        assert five["open"] == group[0]["open"]
        assert five["close"] == group[-1]["close"]
        assert five["high"] == max(p["high"] for p in group)
        assert five["low"] == min(p["low"] for p in group)
        assert five["volume"] == sum(p["volume"] for p in group) == 3000
        assert five["amount"] == pytest.approx(sum(p["amount"] for p in group), abs=0.005)
    assert fives[0]["high"] == 10.06  # 10.05 + the 25 s tick's cent


def test_each_bar_is_final_exactly_once_and_updates_come_before() -> None:
    feed = Feed()
    for i in range(0, 40 * 60, 7):  # 40 minutes of a tick every 7 s
        feed.tick(ms(9, 30) + i * 1000, 10.0 + (i % 5) / 100, 100 * (i + 1), 1000.0 * (i + 1))
    feed.close_all()
    seen_final: set[tuple[str, int]] = set()
    for event in feed.events:
        key = (event.period, event.start_ms)
        assert key not in seen_final, f"{key} emitted after its final"
        if event.closed:
            seen_final.add(key)
    assert len([k for k in seen_final if k[0] == "1m"]) == 40
    assert len([k for k in seen_final if k[0] == "15m"]) == 3
    ids = [e.msg_id() for e in feed.events]
    assert len(ids) == len(set(ids))
    assert ids[0] == f"kline:1m:600000.SH:{ms(9, 30)}:100:false"


def test_always_open_follows_the_plain_minute_grid() -> None:
    feed = Feed(session_rules=False)
    feed.tick(ms(12, 0, 10), 10.0, 100, 1000.0)
    feed.tick(ms(12, 30, 10), 10.1, 300, 3020.0)
    out = feed.tick(ms(23, 59, 50), 10.2, 400, 4040.0)
    assert [(e.payload["timestamp"], e.closed) for e in out if e.period == "60m"] == [
        (iso(13, 0), True)
    ]
    out = feed.tick(ms(0, 0, 5, day=21), 10.3, 100, 1030.0)  # a new day: totals restart
    assert {e.period for e in out if e.closed} == set(PERIODS)
    assert [e.payload for e in out if not e.closed] == [
        bar("1m", iso(0, 1, day=21), iso(0, 0, day=21), 10.3, 10.3, 10.3, 10.3, 100, 1030.0, False)
    ]


def test_joining_mid_session_counts_only_what_it_saw_except_for_the_day_bar() -> None:
    feed = Feed()
    assert feed.tick(ms(10, 15, 1), 10.0, 90_000, 900_000.0) == []  # a baseline, not a trade
    out = feed.agg.update(
        ms(10, 15, 4), 10.1, 90_500, 905_050.0, C, day_open=9.8, day_high=10.3, day_low=9.7
    )
    one = next(e.payload for e in out if e.period == "1m")
    assert (one["open"], one["volume"], one["amount"]) == (10.1, 500, 5050.0)
    day = next(e.payload for e in feed.agg.close_all() if e.period == "1d")
    assert (day["open"], day["high"], day["low"], day["close"]) == (9.8, 10.3, 9.7, 10.1)
    assert (day["volume"], day["amount"]) == (90_500, 905_050.0)


def test_out_of_order_snapshots_are_ignored() -> None:
    feed = Feed()
    feed.tick(ms(9, 31), 10.0, 100, 1000.0)
    assert feed.tick(ms(9, 30, 59), 10.5, 200, 2100.0) == []
    assert feed.tick(ms(9, 31, 5), 10.0, 100, 1000.0) == []  # nothing changed: no update


def test_session_minute_grid() -> None:
    assert session_minute(9 * 60 + 15) == 0
    assert session_minute(9 * 60 + 31) == 1
    assert session_minute(11 * 60 + 29) == 119
    assert session_minute(12 * 60) == 119
    assert session_minute(13 * 60) == 120
    assert session_minute(15 * 60 + 1) == 239


def test_unknown_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown kline period"):
        KLineAggregator("600000.SH", "test", periods=("2m",))


def test_bars_are_labelled_by_their_end_as_xtquant_labels_them() -> None:
    """09:31 is the first 1m bar, 11:30 the morning's last, 13:01 the afternoon's first, 15:00
    the day's last; 60m bars are 10:30, 11:30, 14:00, 15:00; each also carries its start."""
    feed = Feed()
    feed.open()
    for volume, (hour, minute) in enumerate(((9, 30), (11, 29), (13, 0), (14, 59)), start=2):
        feed.tick(ms(hour, minute, 10), 10.0, volume * 100, volume * 1000.0)
    feed.tick(ms(15, 0, 2), 10.0, 700, 7000.0, TradingPhase.CLOSED)
    feed.close_all()
    assert [(p["timestamp"], p["start"]) for p in feed.finals("1m")] == [
        (iso(9, 31), iso(9, 30)),
        (iso(11, 30), iso(11, 29)),
        (iso(13, 1), iso(13, 0)),
        (iso(15, 0), iso(14, 59)),
    ]
    assert [(p["timestamp"], p["start"]) for p in feed.finals("60m")] == [
        (iso(10, 30), iso(9, 30)),
        (iso(11, 30), iso(10, 30)),
        (iso(14, 0), iso(13, 0)),
        (iso(15, 0), iso(14, 0)),
    ]
    assert [p["timestamp"] for p in feed.finals("30m")] == [
        iso(10, 0), iso(11, 30), iso(13, 30), iso(15, 0)
    ]  # fmt: skip
    assert [(p["timestamp"], p["start"]) for p in feed.finals("1d")] == [(iso(0, 0), iso(0, 0))]
