"""The data-quality monitor as a service: quotes and heartbeats in, findings and a report out.

It reads what clients would get (the published quotes, from any source) through ordered
consumers, never provisions the market streams (the adapters do), and owns the KV bucket
``md_quality`` where the report lives for the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

import orjson
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, KeyValueConfig
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from schemas import STATUS_STREAM, STREAM_BY_TYPE, DataType, TradingPhase, epoch_ms_to_iso
from schemas.quality import QualityReport
from schemas.subjects import (
    QUALITY_BUCKET,
    QUALITY_FINDING_SUBJECT,
    QUALITY_REPORT_KEY,
    QUALITY_REPORT_SUBJECT,
    SOURCE_STATUS_WILDCARD,
)
from schemas.tradingcalendar import CALENDAR_BUCKET
from services.calendar import Calendar, calendar_for
from services.holidays import local_holidays, shared_holidays
from services.publisher import MSG_ID_HEADER
from services.quality.checks import QuoteChecks
from services.quality.findings import FindingsBook
from services.quality.settings import QualitySettings
from services.quality.sources import SourceHealth
from services.runner import connect

logger = logging.getLogger(__name__)

SCAN_INTERVAL_S = 0.5
STREAM_WAIT_S = 0.5


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class QualityMonitor:
    def __init__(self, js: JetStreamContext, settings: QualitySettings) -> None:
        self._js = js
        self._settings = settings
        self._calendar = calendar_for(settings.calendar, local_holidays(settings.holidays))
        self.book = FindingsBook()
        self.quotes = QuoteChecks(self.book)
        self.sources = SourceHealth(self.book, round(settings.quality_source_silent_s * 1000))
        self._trading_since: int | None = None
        self._subs: list[Any] = []
        self._kv: KeyValue | None = None
        self.suppressed = 0
        self.reports = 0

    @property
    def calendar(self) -> Calendar:
        return self._calendar

    async def start(self) -> None:
        self._kv = await _bucket(self._js)
        if self._settings.calendar == "real":  # the holidays the adapters agreed on in NATS
            try:
                kv = await self._js.key_value(CALENDAR_BUCKET)
            except NotFoundError:  # no adapter has run yet: the library's (or the override)
                kv = None
            if kv is not None:
                holidays = await shared_holidays(kv, self._settings.holidays)
                self._calendar = calendar_for("real", holidays)
        self._subs.append(
            await self._js.subscribe(
                "md.quote.>",
                stream=STREAM_BY_TYPE[DataType.QUOTE],
                cb=self._on_quote,
                ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            )
        )
        self._subs.append(  # every source's last word first: one already dead is known
            await self._js.subscribe(
                SOURCE_STATUS_WILDCARD,
                stream=STATUS_STREAM,
                cb=self._on_status,
                ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
            )
        )

    async def close(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_quote(self, msg: Msg) -> None:
        try:
            quote = orjson.loads(msg.data)
            ts_ms = round(datetime.fromisoformat(quote["timestamp"]).timestamp() * 1000)
            self.quotes.check(quote, ts_ms, _now_ms())
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning("unreadable quote on %s: %r", msg.subject, exc)

    async def _on_status(self, msg: Msg) -> None:
        try:
            payload = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        if isinstance(payload, dict):
            broker_ms = round(msg.metadata.timestamp.timestamp() * 1000)
            self.sources.status(payload, broker_ms)

    def scan(self, now_ms: int) -> TradingPhase:
        """Staleness and silence, as of ``now_ms``; returns the market phase."""
        phase = self._calendar.phase_at_ms(now_ms)
        trading = phase is TradingPhase.CONTINUOUS
        if not trading:
            self._trading_since = None
        elif self._trading_since is None:
            self._trading_since = now_ms  # a session (or the monitor) starts: no one is late yet
        stale_ms = round(self._settings.quality_stale_after_s * 1000)
        self.quotes.scan(now_ms, self._trading_since, stale_ms)
        self.sources.scan(now_ms, trading)
        return phase

    def report(self, now_ms: int, phase: TradingPhase) -> dict[str, Any]:
        report = {
            "kind": "quality_report",
            "generated_at": epoch_ms_to_iso(now_ms),
            "phase": phase.value,
            "trading": phase is TradingPhase.CONTINUOUS,
            "symbols": len(self.quotes),
            "quotes": self.quotes.quotes,
            "sources": self.sources.report(now_ms),
            **self.book.summary(),
            "suppressed": self.suppressed,
        }
        QualityReport.model_validate(report)  # the contract the admin API reads
        return report

    async def run(self, stop: asyncio.Event) -> None:
        settings = self._settings
        budget_reset = next_report = 0.0
        budget = settings.quality_max_findings_per_s
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now_ms = _now_ms()
            phase = self.scan(now_ms)
            if loop.time() >= budget_reset:
                budget, budget_reset = settings.quality_max_findings_per_s, loop.time() + 1.0
            for finding in self.book.take_changes():
                if budget <= 0:
                    self.suppressed += 1
                    continue
                budget -= 1
                body = orjson.dumps(finding.as_json())
                await self._publish(QUALITY_FINDING_SUBJECT, body, finding.msg_id())
            if loop.time() >= next_report:
                next_report = loop.time() + settings.quality_report_interval_s
                await self._write_report(now_ms, phase)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SCAN_INTERVAL_S)

    async def _write_report(self, now_ms: int, phase: TradingPhase) -> None:
        body = orjson.dumps(self.report(now_ms, phase))
        try:
            if self._kv is not None:
                await self._kv.put(QUALITY_REPORT_KEY, body)
            await self._publish(QUALITY_REPORT_SUBJECT, body, f"quality-report:{now_ms}")
            self.reports += 1
        except (NatsError, TimeoutError) as exc:
            logger.warning("could not write the quality report: %r", exc)

    async def _publish(self, subject: str, body: bytes, msg_id: str) -> None:
        try:
            await self._js.publish(subject, body, headers={MSG_ID_HEADER: msg_id})
        except (NatsError, TimeoutError) as exc:
            logger.warning("could not publish on %s: %r", subject, exc)


async def _bucket(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(QUALITY_BUCKET)
    except NotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=QUALITY_BUCKET,
                history=1,
                description="mdbridge data quality: key 'report' = QualityReport JSON",
            )
        )


async def _wait_for_streams(js: JetStreamContext, stop: asyncio.Event) -> bool:
    """The adapters provision the streams; wait for them (False: stopped first)."""
    announced = False
    while not stop.is_set():
        try:
            await js.stream_info(STREAM_BY_TYPE[DataType.QUOTE])
            await js.stream_info(STATUS_STREAM)
            return True
        except NotFoundError:
            if not announced:
                logger.warning("waiting for the market-data streams (start an adapter)")
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STREAM_WAIT_S)
    return False


async def run_monitor(settings: QualitySettings, stop: asyncio.Event) -> None:
    """``mdbridge quality``: connect, wait for the streams, monitor until ``stop``."""
    client = await connect(settings, stop)
    if client is None:
        return
    try:
        js = client.jetstream()
        if not await _wait_for_streams(js, stop):
            return
        monitor = QualityMonitor(js, settings)
        await monitor.start()
        logger.info("quality monitor running (%s calendar)", settings.calendar)
        try:
            await monitor.run(stop)
        finally:
            await monitor.close()
    finally:
        with contextlib.suppress(NatsError):
            await client.drain()
