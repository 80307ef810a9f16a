"""The data-quality monitor: each check on its own, the trading calendar, and the service on a
real nats-server writing findings and the report the admin API reads."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from typing import Any, cast

import nats
import orjson
import pytest
from nats.aio.msg import Msg

from bridge.market.statusboard import StatusBoard
from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, TradingPhase
from schemas.quality import FindingKind, QualityReport
from services.provision import ensure_streams
from services.publisher import MSG_ID_HEADER
from services.quality import QualityMonitor, QualitySettings, run_monitor
from services.quality.checks import QuoteChecks
from services.quality.findings import FindingsBook
from services.quality.sources import SourceHealth
from tests.support.adapters import eventually
from tests.support.quotes import bare_quote as quote

FRIDAY_10AM = int(datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)
Q = FindingKind


def active(book: FindingsBook) -> set[tuple[FindingKind, str]]:
    return set(book.active)


def test_each_quote_check_raises_and_clears() -> None:
    book = FindingsBook()
    checks = QuoteChecks(book)
    t = FRIDAY_10AM
    checks.check(quote(t), t, t)
    assert active(book) == set()
    checks.check(quote(t - 1000), t - 1000, t)  # older than one already seen
    checks.check(quote(t + 1000, volume=900), t + 1000, t)  # cumulative volume went down
    checks.check(quote(t + 2000, last=11.23, volume=1000), t + 2000, t)  # above limit up
    assert active(book) == {(Q.PRICE_OUTSIDE_BAND, "600000.SH")}
    assert [(f.kind, f.active) for f in book.take_changes()] == [
        (Q.TIMESTAMP_BACKWARDS, True),
        (Q.TIMESTAMP_BACKWARDS, False),  # the next quote in order cleared it
        (Q.VOLUME_DOWN, True),
        (Q.VOLUME_DOWN, False),  # back to the highest total seen
        (Q.PRICE_OUTSIDE_BAND, True),
    ]
    checks.check(quote(t + 3000, bid_price=10.02, ask_price=10.01), t + 3000, t)
    assert active(book) == {(Q.CROSSED_BOOK, "600000.SH")}
    auction = quote(t + 4000, bid_price=10.02, ask_price=10.02, phase="closing_auction")
    checks.check(auction, t + 4000, t)  # an auction's indicative book may cross
    assert active(book) == set()
    tomorrow = t + 86_400_000
    checks.check(quote(tomorrow, volume=10), tomorrow, tomorrow)  # a new day starts from zero
    assert active(book) == set()
    assert book.totals == {
        Q.TIMESTAMP_BACKWARDS: 1,
        Q.VOLUME_DOWN: 1,
        Q.PRICE_OUTSIDE_BAND: 1,
        Q.CROSSED_BOOK: 1,
    }


def test_limit_rules_per_kind_st_index_new_listing_and_fund() -> None:
    book = FindingsBook()
    checks = QuoteChecks(book)
    t = FRIDAY_10AM

    def check(symbol: str, prev: float, up: float, down: float, last: float) -> bool:
        """Whether the quote raised a limit-rule finding."""
        q = quote(t, last=last, symbol=symbol, prev_close=prev, limit_up=up, limit_down=down)
        checks.check(q, t, t)
        return (Q.LIMIT_RULE, symbol) in active(book)

    assert not check("600000.SH", 10.2, 11.22, 9.18, 10.0)  # main board ±10 %
    assert not check("600123.SH", 4.0, 4.2, 3.8, 4.1)  # ST ±5 %
    assert check("600124.SH", 4.0, 4.6, 3.4, 4.1)  # ±15 %: no rule
    assert not check("300750.SZ", 250.0, 300.0, 200.0, 251.0)  # ChiNext ±20 %
    assert check("300751.SZ", 250.0, 275.0, 225.0, 251.0)  # ChiNext has no ±10 %
    assert not check("301999.SZ", 30.0, 0.0, 0.0, 45.0)  # a new listing: none
    assert not check("000001.SH", 3300.0, 0.0, 0.0, 3310.5)  # an index: none
    assert check("000300.SH", 3900.0, 4290.0, 3510.0, 3901.0)  # an index with limits
    assert not check("510300.SH", 3.912, 4.303, 3.521, 3.913)  # an ETF: ±10 %, 0.001 tick
    assert not check("159915.SZ", 2.105, 2.526, 1.684, 2.2)  # a ChiNext ETF: ±20 %
    assert check("510050.SH", 2.75, 0.0, 0.0, 2.8)  # an ETF always has a limit
    assert (Q.PRICE_OUTSIDE_BAND, "301999.SZ") not in active(book)  # no limit: no band


def test_staleness_counts_only_while_trading_and_not_for_halted_symbols() -> None:
    book = FindingsBook()
    checks = QuoteChecks(book)
    t = FRIDAY_10AM
    checks.check(quote(t), t, t)
    checks.check(quote(t, symbol="000001.SZ", phase="halted"), t, t)
    checks.scan(t + 61_000, None, 60_000)  # the market is closed: nothing is late
    assert active(book) == set()
    checks.scan(t + 61_000, t + 30_000, 60_000)  # trading resumed 31 s ago: not yet
    assert active(book) == set()
    checks.scan(t + 91_000, t + 30_000, 60_000)
    assert active(book) == {(Q.STALE, "600000.SH")}  # the halted one is not stale
    checks.check(quote(t + 92_000, volume=2000), t + 92_000, t + 92_000)
    assert active(book) == set()


def test_sources_fall_silent_say_down_or_stop_receiving() -> None:
    book = FindingsBook()
    health = SourceHealth(book, silent_ms=5000)
    t = FRIDAY_10AM
    health.status({"source": "a", "event": "up", "received": 10}, t)
    health.status({"source": "b", "event": "heartbeat"}, t)
    health.status({"source": "c", "event": "down"}, t)  # stopped on purpose
    health.status({"source": "d", "event": "down", "reason": "MiniQMT link disconnected"}, t)
    health.scan(t + 1000, trading=True)
    assert active(book) == {(Q.SOURCE_SILENT, "d")}
    health.status({"source": "a", "event": "heartbeat", "received": 10}, t + 6000)  # no data
    health.status({"source": "b", "event": "heartbeat"}, t + 6000)
    health.scan(t + 6500, trading=True)
    assert active(book) == {(Q.SOURCE_SILENT, "a"), (Q.SOURCE_SILENT, "d")}
    health.scan(t + 6500, trading=False)  # no data is expected outside trading hours
    assert active(book) == {(Q.SOURCE_SILENT, "d")}
    health.scan(t + 12_000, trading=False)  # no heartbeat at all: silent, trading or not
    assert active(book) == {(Q.SOURCE_SILENT, s) for s in "abd"}
    states = {name: s["state"] for name, s in health.report(t + 12_000).items()}
    assert states == {"a": "silent", "b": "silent", "c": "down", "d": "down"}


def test_the_calendar_and_its_holidays_decide_when_staleness_counts() -> None:
    def stale_after(holidays: tuple[date, ...]) -> set[tuple[FindingKind, str]]:
        settings = QualitySettings(holidays=holidays, quality_stale_after_s=60)
        monitor = QualityMonitor(cast(Any, None), settings)  # scan() does no I/O
        t = FRIDAY_10AM
        monitor.quotes.check(quote(t), t, t)
        assert monitor.scan(t) in {TradingPhase.CONTINUOUS, TradingPhase.CLOSED}
        monitor.scan(t + 120_000)
        return active(monitor.book)

    assert stale_after(()) == {(Q.STALE, "600000.SH")}
    assert stale_after((date(2026, 11, 20),)) == set()  # a holiday: closed all day


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_the_monitor_publishes_findings_and_the_report(fresh_nats_server: NatsServer) -> None:
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    findings: list[dict[str, Any]] = []

    async def keep(msg: Msg) -> None:
        findings.append(orjson.loads(msg.data))

    await nc.subscribe("md.status.quality.finding", cb=keep)
    await js.publish("md.status.old", orjson.dumps({"source": "old", "event": "heartbeat"}))
    settings = QualitySettings(
        nats_url=fresh_nats_server.url,
        calendar="always_open",
        quality_stale_after_s=0.6,
        quality_source_silent_s=0.6,
        quality_report_interval_s=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_monitor(settings, stop))
    try:
        kv = await eventually(lambda: _bucket(js))
        await eventually(lambda: _report(kv))
        base = FRIDAY_10AM
        sent = [
            quote(base),
            quote(base - 3000),  # backwards
            quote(base + 3000, volume=500),  # volume down
            quote(base + 6000, last=8.5, volume=1000),  # below limit down
            quote(base + 9000, bid_price=10.5, ask_price=10.4, volume=1000),  # crossed
        ]
        for i, payload in enumerate(sent):
            headers = {MSG_ID_HEADER: f"qtest-{i}"}
            await js.publish("md.quote.600000.SH", orjson.dumps(payload), headers=headers)
        kinds = {
            Q.TIMESTAMP_BACKWARDS,
            Q.VOLUME_DOWN,
            Q.PRICE_OUTSIDE_BAND,
            Q.CROSSED_BOOK,
            Q.STALE,
        }
        await eventually(lambda: kinds <= {f["check"] for f in findings if f["active"]}, timeout=10)
        report = await eventually(lambda: _report(kv, lambda r: r["counts"].get("stale")))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await nc.close()
    parsed = QualityReport.model_validate(report)
    assert parsed.quotes == 5
    assert parsed.symbols == 1
    assert parsed.sources["old"].state == "silent"  # its last heartbeat: before we started
    assert parsed.counts == {Q.STALE: 1, Q.CROSSED_BOOK: 1, Q.SOURCE_SILENT: 1}
    assert parsed.totals[Q.VOLUME_DOWN] == 1
    stale = next(f for f in parsed.active if f.check is Q.STALE)
    assert (stale.symbol, stale.source, stale.severity) == ("600000.SH", "src", "warning")
    silent = next(f for f in findings if f["check"] == "source_silent")
    assert (silent["source"], silent["active"], silent["kind"]) == ("old", True, "quality_finding")
    assert parsed.kind == "quality_report"

    # the bridge's status board (/admin/quality, the dashboard) reads them as such, and never
    # takes a symbol's status event or a quality message for a source
    board = StatusBoard(cast(Any, None), source_timeout_s=5.0)
    now = time.time()
    board.accept("md.status.quality.report", report, now)
    board.accept("md.status.quality.finding", silent, now)
    board.accept("md.status.sim", {"source": "sim", "event": "heartbeat"}, now)
    halted = {"event": "halted", "symbol": "600000.SH", "phase": "halted", "source": "sim"}
    board.accept("md.status.symbol.600000.SH", halted, now)
    view = board.quality()
    assert [r["report"]["quotes"] for r in view["reports"]] == [5]
    assert [f["check"] for f in view["findings"]] == ["source_silent"]
    assert [(s["source"], s["event"]) for s in board.sources()] == [("sim", "heartbeat")]


async def _bucket(js: Any) -> Any:
    try:
        return await js.key_value("md_quality")
    except Exception:
        return None


async def _report(kv: Any, predicate: Any = None) -> dict[str, Any] | None:
    try:
        entry = await kv.get("report")
    except Exception:
        return None
    report = orjson.loads(entry.value)
    return report if predicate is None or predicate(report) else None
