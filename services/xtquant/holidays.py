"""The terminal's exchange holidays: asked on each connect until it answers, then shared.

``get_holidays`` makes this adapter's calendar (a silent feed on a holiday is no fault) and,
written to KV ``md_calendar`` as the ``xtquant`` source, every other process's. With
MDBRIDGE_HOLIDAYS set nothing is asked: the override stands.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date

from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

from schemas.tradingcalendar import HolidaySource
from services.holidays import publish_holidays, xtquant_holidays
from services.xtquant.link import XtLink

logger = logging.getLogger(__name__)


class TerminalHolidays:
    __slots__ = ("done",)

    def __init__(self, override: Collection[date] = ()) -> None:
        self.done = bool(override)  # overridden: nothing to ask

    async def load(self, link: XtLink, kv: KeyValue | None) -> frozenset[date] | None:
        """The terminal's holidays the first time it gives them (written to ``kv``), else
        None: already known, overridden, or not given (asked again on the next connect)."""
        if self.done:
            return None
        years = xtquant_holidays(await link.holidays())
        if not years:
            return None  # the library's stay meanwhile
        self.done = True
        if kv is not None:
            try:
                written = await publish_holidays(kv, years, HolidaySource.XTQUANT)
                logger.info("xtquant: holidays of %s (%d years written)", sorted(years), written)
            except NatsError as exc:
                logger.warning("publishing the holidays failed: %r", exc)
        return frozenset().union(*years.values())
