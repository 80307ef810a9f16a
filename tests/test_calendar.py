from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from schemas import SHANGHAI, TradingPhase
from services.calendar import TradingCalendar, phase_at
from services.sim.clock import SimClock

FRIDAY = date(2026, 11, 20)


def at(hour: int, minute: int, second: int = 0, day: date = FRIDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("when", "phase"),
    [
        (at(8, 0), TradingPhase.PRE_OPEN),
        (at(9, 14, 59), TradingPhase.PRE_OPEN),
        (at(9, 15), TradingPhase.OPENING_AUCTION),
        (at(9, 20), TradingPhase.OPENING_AUCTION),
        (at(9, 27), TradingPhase.PRE_CONTINUOUS),
        (at(9, 30), TradingPhase.CONTINUOUS),
        (at(10, 0), TradingPhase.CONTINUOUS),
        (at(11, 29, 59), TradingPhase.CONTINUOUS),
        (at(11, 30), TradingPhase.LUNCH_BREAK),
        (at(12, 0), TradingPhase.LUNCH_BREAK),
        (at(13, 0), TradingPhase.CONTINUOUS),
        (at(14, 56, 59), TradingPhase.CONTINUOUS),
        (at(14, 58), TradingPhase.CLOSING_AUCTION),
        (at(15, 0), TradingPhase.CLOSED),
        (at(20, 0), TradingPhase.CLOSED),
        (at(10, 0, day=FRIDAY + timedelta(days=1)), TradingPhase.CLOSED),  # Saturday
        (at(10, 0, day=FRIDAY + timedelta(days=2)), TradingPhase.CLOSED),  # Sunday
    ],
)
def test_phase_at_sample_times(when: datetime, phase: TradingPhase) -> None:
    assert phase_at(when) is phase
    assert TradingCalendar().phase_at_ms(int(when.timestamp() * 1000)) is phase


def test_naive_times_are_shanghai_and_aware_times_convert() -> None:
    assert phase_at(datetime(2026, 11, 20, 10, 0)) is TradingPhase.CONTINUOUS
    utc = datetime(2026, 11, 20, 2, 0, tzinfo=SHANGHAI).astimezone(SHANGHAI.utc)
    assert phase_at(utc.replace(hour=2)) is TradingPhase.CONTINUOUS  # 02:00 UTC = 10:00 +08


def test_holidays_are_closed() -> None:
    calendar = TradingCalendar.of([FRIDAY])
    assert calendar.phase_at(at(10, 0)) is TradingPhase.CLOSED
    assert not calendar.is_trading_day(FRIDAY)
    assert calendar.phase_at(at(10, 0, day=FRIDAY - timedelta(days=1))) is TradingPhase.CONTINUOUS


def test_fast_path_agrees_with_datetime_path() -> None:
    calendar = TradingCalendar.of([date(2026, 10, 1)])
    rng = random.Random(3)
    base = int(at(0, 0, day=date(2026, 9, 28)).timestamp() * 1000)
    for _ in range(3000):
        ts = base + rng.randrange(14 * 86_400_000)
        when = datetime.fromtimestamp(ts / 1000, SHANGHAI)
        assert calendar.phase_at_ms(ts) is calendar.phase_at(when), when


def test_clock_runs_at_speed_from_its_start() -> None:
    now = [100.0]
    clock = SimClock(20.0, at(9, 20), session="real", monotonic=lambda: now[0])
    start_ms = int(at(9, 20).timestamp() * 1000)
    assert clock.now_ms() == start_ms
    assert clock.phase() is TradingPhase.OPENING_AUCTION
    now[0] += 30.0  # 30 wall seconds = 10 sim minutes
    assert clock.now_ms() == start_ms + 600_000
    assert clock.phase() is TradingPhase.CONTINUOUS
    assert clock.at(100.5) == start_ms + 10_000
    assert clock.wall_seconds(3.0) == pytest.approx(0.15)
    assert SimClock(1.0, at(12, 0)).phase() is TradingPhase.CONTINUOUS  # always open
    with pytest.raises(ValueError, match="positive"):
        SimClock(0.0)


def test_next_change_walks_the_day_and_skips_closed_days() -> None:
    calendar = TradingCalendar.of([date(2026, 11, 23)])  # a Monday holiday

    def ms(when: datetime) -> int:
        return int(when.timestamp() * 1000)

    friday = date(2026, 11, 20)
    bells = [(9, 15), (9, 25), (9, 30), (11, 30), (13, 0), (14, 57), (15, 0)]
    instant = ms(at(8, 0, day=friday))
    for hour, minute in bells:
        instant = calendar.next_change_ms(instant) or 0
        assert instant == ms(at(hour, minute, day=friday))
    # After Friday's close: the weekend and the holiday pass, Tuesday's auction is next.
    assert calendar.next_change_ms(instant) == ms(at(9, 15, day=date(2026, 11, 24)))
    assert TradingCalendar.of([friday]).next_change_ms(instant, within_days=2) is None


def test_clock_maps_a_sim_instant_back_to_the_monotonic_clock() -> None:
    clock = SimClock(60.0, at(9, 14, 30), session="real", monotonic=lambda: 50.0)
    bell = int(at(9, 30).timestamp() * 1000)
    assert clock.at(clock.mono_of(bell)) >= bell
    assert clock.at(clock.mono_of(bell)) - bell <= 1
    assert clock.next_bell_ms(bell - 1) == bell
    assert SimClock(60.0, at(9, 14)).next_bell_ms(bell) is None, "always open: no bells"
