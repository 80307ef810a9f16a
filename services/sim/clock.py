"""The simulator's clock: sim time = start + monotonic elapsed x speed, plus the session mode."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Literal

from schemas import SHANGHAI, TradingPhase
from services.calendar import TradingCalendar

SessionMode = Literal["always_open", "real"]
_LOOK_BACK_DAYS = 31  # longer than any exchange holiday


def start_instant(
    start: datetime | time_of_day | None, calendar: TradingCalendar, today: date | None = None
) -> datetime | None:
    """The instant a sim starts at: a time of day alone is that time on the latest trading day
    (today when it trades), so ``--start 09:14:30`` replays an opening bell on a weekend too."""
    if not isinstance(start, time_of_day):
        return start
    day = today or datetime.now(SHANGHAI).date()
    for _ in range(_LOOK_BACK_DAYS):
        if calendar.is_trading_day(day):
            break
        day -= timedelta(days=1)
    return datetime.combine(day, start, tzinfo=start.tzinfo or SHANGHAI)


class SimClock:
    """Maps the event loop's monotonic time to sim epoch milliseconds.

    Monotonic, not wall, time drives it so a wall-clock step (NTP) never makes the sim jump
    or go backwards; ``start`` anchors it to a calendar instant (default: now).
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        *,
        session: SessionMode = "always_open",
        calendar: TradingCalendar | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.session: SessionMode = session
        self.calendar = calendar or TradingCalendar()
        self._monotonic = monotonic
        self._mono0 = monotonic()
        if start is None:
            self._start_ms = time.time() * 1000.0
        else:
            aware = start if start.tzinfo is not None else start.replace(tzinfo=SHANGHAI)
            self._start_ms = aware.timestamp() * 1000.0

    def at(self, mono: float) -> int:
        """Sim epoch ms at a monotonic instant (``loop.time()`` uses the same clock)."""
        return int(self._start_ms + (mono - self._mono0) * self.speed * 1000.0)

    def mono_of(self, ts_ms: int) -> float:
        """The monotonic instant at which the sim clock reads ``ts_ms`` (or the ms after it:
        ``at`` truncates, so one ms of margin keeps ``at(mono_of(t)) >= t``)."""
        return self._mono0 + (ts_ms + 1 - self._start_ms) / (self.speed * 1000.0)

    def next_bell_ms(self, after_ms: int) -> int | None:
        """The next phase change after ``after_ms`` in the real session mode; else None."""
        if self.session == "always_open":
            return None
        return self.calendar.next_change_ms(after_ms)

    def now_ms(self) -> int:
        return self.at(self._monotonic())

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of sim time take on the wall clock."""
        return sim_seconds / self.speed

    def phase_at_ms(self, ts_ms: int) -> TradingPhase:
        if self.session == "always_open":
            return TradingPhase.CONTINUOUS
        return self.calendar.phase_at_ms(ts_ms)

    def phase(self) -> TradingPhase:
        return self.phase_at_ms(self.now_ms())
