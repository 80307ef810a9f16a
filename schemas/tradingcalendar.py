"""The exchange holidays every process agrees on: JetStream KV ``md_calendar``, key = year.

A trading day is a weekday that is not a holiday (SSE, SZSE and BSE share the calendar; the
weekend make-up workdays of the State Council's schedule are not trading days). Sources, from
the strongest: ``settings`` (``MDBRIDGE_HOLIDAYS``, an operator's override), ``xtquant`` (the
terminal's ``get_holidays``), ``chinese-calendar`` (the PyPI library, elsewhere). A weaker
source never replaces a stronger one's year.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

CALENDAR_BUCKET = "md_calendar"


class HolidaySource(StrEnum):
    LIBRARY = "chinese-calendar"
    XTQUANT = "xtquant"
    SETTINGS = "settings"


SOURCE_RANK: dict[HolidaySource, int] = {
    HolidaySource.LIBRARY: 0,
    HolidaySource.XTQUANT: 1,
    HolidaySource.SETTINGS: 2,
}


class HolidayYear(BaseModel):
    """One year's holidays (weekdays only) in KV ``md_calendar`` under the key ``<year>``."""

    model_config = ConfigDict(frozen=True)

    year: int = Field(ge=1990, le=2100)
    holidays: list[date] = Field(description="weekdays the exchanges are closed, ascending")
    source: HolidaySource
    updated: datetime = Field(description="when it was written")


def is_trading_day(day: date, holidays: frozenset[date] | set[date]) -> bool:
    return day.weekday() < 5 and day not in holidays
