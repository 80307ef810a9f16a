"""Where the holidays come from, and their copy in KV ``md_calendar`` that every process reads.

On the adapter host xtquant's ``get_holidays`` is the authority; elsewhere the
``chinese-calendar`` library (pure Python, no dependencies, a win_amd64-safe wheel, updated
every year when the State Council publishes the next year's schedule); ``MDBRIDGE_HOLIDAYS``
overrides both. A year the library does not know yet has no holidays (weekends only), with a
warning: the override fills the gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

import chinese_calendar
import orjson
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from schemas import SHANGHAI
from schemas.tradingcalendar import CALENDAR_BUCKET, SOURCE_RANK, HolidaySource, HolidayYear

logger = logging.getLogger(__name__)

ByYear = dict[int, frozenset[date]]


def by_year(days: Iterable[date]) -> ByYear:
    """Weekday holidays grouped by year (a weekend is closed anyway)."""
    out: dict[int, set[date]] = {}
    for day in days:
        if day.weekday() < 5:
            out.setdefault(day.year, set()).add(day)
    return {year: frozenset(days) for year, days in out.items()}


def library_holidays() -> ByYear:
    """Every weekday holiday ``chinese-calendar`` knows (2004 to its newest year)."""
    return by_year(chinese_calendar.holidays)


def library_years() -> range:
    known = [day.year for day in chinese_calendar.holidays]
    return range(min(known), max(known) + 1)


def xtquant_holidays(raw: Iterable[object]) -> ByYear:
    """``get_holidays()``'s 8-digit dates ('20261001' or 20261001); others are skipped."""
    days = []
    for value in raw:
        text = str(value)
        try:
            days.append(datetime.strptime(text, "%Y%m%d").date())
        except ValueError:
            logger.warning("xtquant holiday %r is not a date", value)
    return by_year(days)


def local_holidays(override: Iterable[date] = ()) -> frozenset[date]:
    """The override when given, else the library's: for a process without NATS at hand."""
    days = frozenset(override)
    if days:
        return days
    return frozenset().union(*library_holidays().values())


def warn_if_unknown(year: int) -> None:
    if year not in library_years():
        logger.warning(
            "chinese-calendar has no holidays for %d yet: weekends only, unless "
            "MDBRIDGE_HOLIDAYS (or xtquant on the adapter host) says otherwise",
            year,
        )


async def calendar_bucket(js: JetStreamContext, storage: StorageType, replicas: int) -> KeyValue:
    try:
        return await js.key_value(CALENDAR_BUCKET)
    except NotFoundError:
        kv = await js.create_key_value(
            KeyValueConfig(
                bucket=CALENDAR_BUCKET,
                history=1,
                storage=storage,
                replicas=replicas,
                description="mdbridge exchange holidays: key = year, value = HolidayYear JSON",
            )
        )
        logger.info("created KV bucket %s", CALENDAR_BUCKET)
        return kv


def years_around(year: int) -> list[int]:
    """The library's years and the ones either side of ``year``: what is worth reading."""
    return sorted({*library_years(), year - 1, year, year + 1})


async def read_calendar(kv: KeyValue, years: Iterable[int]) -> dict[int, HolidayYear]:
    """The bucket's entries of ``years`` (direct gets: no consumer, so few permissions)."""
    out: dict[int, HolidayYear] = {}
    for year in years:
        try:
            entry = await kv.get(str(year))
        except NotFoundError:  # KeyNotFoundError, or a deleted key
            continue
        if entry.value:
            out[year] = HolidayYear.model_validate_json(entry.value)
    return out


async def publish_holidays(kv: KeyValue, years: ByYear, source: HolidaySource) -> int:
    """Write each year unless a stronger source already owns it; returns how many written."""
    existing = await read_calendar(kv, years)
    now = datetime.now(SHANGHAI)
    written = 0
    for year, days in sorted(years.items()):
        current = existing.get(year)
        if current is not None and SOURCE_RANK[current.source] > SOURCE_RANK[source]:
            continue
        if current is not None and current.source == source and set(current.holidays) == days:
            continue  # unchanged: keep the KV revision (and its watchers) quiet
        entry = HolidayYear(year=year, holidays=sorted(days), source=source, updated=now)
        await kv.put(str(year), orjson.dumps(entry.model_dump(mode="json")))
        written += 1
    return written


async def shared_holidays(kv: KeyValue, override: Iterable[date] = ()) -> frozenset[date]:
    """What every process uses: the override, else the bucket's years, else the library's."""
    days = frozenset(override)
    if days:
        return days
    merged = dict(library_holidays())
    this_year = datetime.now(SHANGHAI).year
    for year, entry in (await read_calendar(kv, years_around(this_year))).items():
        merged[year] = frozenset(entry.holidays)
    return frozenset().union(*merged.values())


async def publish_default_calendar(kv: KeyValue, override: Iterable[date] = ()) -> None:
    """At an adapter's start: the override, or the library's years around today."""
    days = tuple(override)
    if days:
        await publish_holidays(kv, by_year(days), HolidaySource.SETTINGS)
        return
    this_year = datetime.now(SHANGHAI).year
    warn_if_unknown(this_year)
    known = library_holidays()
    wanted = {y: d for y, d in known.items() if this_year - 1 <= y <= this_year + 1}
    await publish_holidays(kv, wanted, HolidaySource.LIBRARY)
