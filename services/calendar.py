"""The A-share trading calendar: pure functions of Shanghai time (SSE, SZSE and BSE share it).

Used by every part that must tell trading time from closed time: the simulator's clock, the
xtquant adapter (a silent feed is a fault only while trading), the data-quality monitor.

    <09:15 pre_open | 09:15 opening_auction | 09:25 pre_continuous | 09:30 continuous
    11:30 lunch_break | 13:00 continuous | 14:57 closing_auction | 15:00 closed

Weekends and configured holidays are closed all day. Each boundary belongs to the phase it
starts (09:30:00.000 is continuous, 11:30:00.000 is the lunch break).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from schemas import SHANGHAI, TradingPhase

MINUTE_MS = 60_000
DAY_MS = 86_400_000
SHANGHAI_OFFSET_MS = 8 * 3_600_000
_EPOCH_DATE = date(1970, 1, 1)  # a Thursday: weekday 3


def _ms(hour: int, minute: int) -> int:
    return (hour * 60 + minute) * MINUTE_MS


# (start of the phase as ms of the Shanghai day, phase), ascending.
SCHEDULE: tuple[tuple[int, TradingPhase], ...] = (
    (0, TradingPhase.PRE_OPEN),
    (_ms(9, 15), TradingPhase.OPENING_AUCTION),
    (_ms(9, 25), TradingPhase.PRE_CONTINUOUS),
    (_ms(9, 30), TradingPhase.CONTINUOUS),
    (_ms(11, 30), TradingPhase.LUNCH_BREAK),
    (_ms(13, 0), TradingPhase.CONTINUOUS),
    (_ms(14, 57), TradingPhase.CLOSING_AUCTION),
    (_ms(15, 0), TradingPhase.CLOSED),
)

#: Phases in which the exchange matches orders (continuously or at an auction's end).
TRADING_PHASES = frozenset(
    {
        TradingPhase.OPENING_AUCTION,
        TradingPhase.PRE_CONTINUOUS,
        TradingPhase.CONTINUOUS,
        TradingPhase.CLOSING_AUCTION,
    }
)


def phase_of_day_ms(day_ms: int) -> TradingPhase:
    """Phase of a trading day at ``day_ms`` milliseconds after Shanghai midnight."""
    phase = TradingPhase.PRE_OPEN
    for start, candidate in SCHEDULE:
        if day_ms < start:
            break
        phase = candidate
    return phase


def shanghai_day(ts_ms: int) -> int:
    """Days since 1970-01-01 of the Shanghai calendar date of an epoch-ms instant."""
    return (ts_ms + SHANGHAI_OFFSET_MS) // DAY_MS


def day_to_date(day: int) -> date:
    return _EPOCH_DATE + timedelta(days=day)


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """Trading days (weekdays minus ``holidays``) and the phase at any instant."""

    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, holidays: Collection[date] = ()) -> TradingCalendar:
        return cls(frozenset(holidays))

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def phase_at(self, when: datetime) -> TradingPhase:
        """Phase at ``when``; naive datetimes are taken as Shanghai time."""
        local = when.replace(tzinfo=SHANGHAI) if when.tzinfo is None else when.astimezone(SHANGHAI)
        if not self.is_trading_day(local.date()):
            return TradingPhase.CLOSED
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return phase_of_day_ms((local - midnight) // timedelta(milliseconds=1))

    def next_change_ms(self, ts_ms: int, *, within_days: int = 31) -> int | None:
        """The first phase boundary of a trading day strictly after ``ts_ms`` (epoch ms), or
        None when no trading day starts within ``within_days``."""
        day, day_ms = divmod(ts_ms + SHANGHAI_OFFSET_MS, DAY_MS)
        for ahead in range(within_days + 1):
            if not self.is_trading_day(day_to_date(day + ahead)):
                continue
            for start, _ in SCHEDULE[1:]:
                if ahead > 0 or start > day_ms:
                    return (day + ahead) * DAY_MS + start - SHANGHAI_OFFSET_MS
        return None

    def phase_at_ms(self, ts_ms: int) -> TradingPhase:
        """Phase at an epoch-ms instant: the hot-path form (no datetime per call)."""
        local = ts_ms + SHANGHAI_OFFSET_MS
        day, day_ms = divmod(local, DAY_MS)
        if (day + 3) % 7 >= 5 or (self.holidays and day_to_date(day) in self.holidays):
            return TradingPhase.CLOSED
        return phase_of_day_ms(day_ms)


class Calendar(Protocol):
    """What callers need of a calendar: the market phase at an instant."""

    def phase_at_ms(self, ts_ms: int) -> TradingPhase: ...


@dataclass(frozen=True, slots=True)
class AlwaysOpen:
    """Continuous trading around the clock: the simulator's demo mode, and tests at any hour."""

    def phase_at_ms(self, ts_ms: int) -> TradingPhase:
        return TradingPhase.CONTINUOUS


CalendarMode = Literal["real", "always_open"]


def calendar_for(mode: CalendarMode, holidays: Collection[date] = ()) -> Calendar:
    """The real A-share calendar with ``holidays``, or the always-open one."""
    return AlwaysOpen() if mode == "always_open" else TradingCalendar.of(holidays)


def phase_at(when: datetime, holidays: Collection[date] = ()) -> TradingPhase:
    """Phase of the A-share market at ``when`` (Shanghai time when naive)."""
    return TradingCalendar.of(holidays).phase_at(when)
