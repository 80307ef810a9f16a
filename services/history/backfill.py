"""Backfill: publish a symbol's past bars after the last one the history stream already holds.

Idempotent across restarts, not only within the broker's duplicate window: what is stored is
read first (one direct get of the subject's last bar), so a second run publishes nothing, and
an interrupted run continues where it stopped. ``Nats-Msg-Id`` (schemas.history.bar_id) also
dedupes two adapters backfilling at the same moment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.history import history_stream, history_subject
from schemas.timefmt import SHANGHAI
from services.history.writer import bar_headers
from services.publisher import Publisher

logger = logging.getLogger(__name__)

Bars = Iterable[tuple[int, dict[str, Any]]]  # (bar start ms, KLineData payload), oldest first


class BackfillResult(NamedTuple):
    symbols: int
    published: int
    skipped: int  # bars at or before the last stored one


def bar_ms(data: bytes) -> int:
    """A stored bar's start, from its payload (``start``; bars stored before bars carried
    it were labelled by their start in ``timestamp``)."""
    payload = orjson.loads(data)
    stamp = datetime.fromisoformat(payload.get("start") or payload["timestamp"])
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=SHANGHAI)
    return int(stamp.timestamp() * 1000)


async def last_stored_ms(js: JetStreamContext, period: str, symbol: str) -> int | None:
    """Start of the newest stored bar of ``symbol``, None if the stream has none."""
    try:
        msg = await js.get_last_msg(
            history_stream(period), history_subject(period, symbol), direct=True
        )
    except NotFoundError:
        return None
    return bar_ms(msg.data or b"")


async def backfill(
    js: JetStreamContext,
    publisher: Publisher,
    period: str,
    series: Iterable[tuple[str, Bars]],
    *,
    progress_every: int = 500,
) -> BackfillResult:
    """Publish each symbol's bars newer than its stored ones; a log line per ``progress_every``
    symbols. Returns once every publish is acknowledged."""
    symbols = published = skipped = 0
    for symbol, bars in series:
        last = await last_stored_ms(js, period, symbol)
        subject = history_subject(period, symbol)
        for start_ms, payload in bars:
            if last is not None and start_ms <= last:
                skipped += 1
                continue
            await publisher.publish_raw(
                subject, orjson.dumps(payload), bar_headers(period, symbol, start_ms)
            )
            published += 1
        symbols += 1
        if symbols % progress_every == 0:
            logger.info("backfill %s: %d symbols, %d bars published", period, symbols, published)
    await publisher.flush()
    logger.info(
        "backfill %s done: %d symbols, %d bars published, %d already stored",
        period,
        symbols,
        published,
        skipped,
    )
    return BackfillResult(symbols, published, skipped)
