"""The simulator's real trading day through a real nats-server: 集合竞价, the 09:25 result, the
09:30 burst, 午间休市 and the afternoon bell (the close is in test_sim_runtime)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time
from typing import Any

import pytest
from nats.aio.client import Client

from mdbridge.cli import build_parser
from mdbridge.launcher import _child_env
from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI
from services.calendar import TradingCalendar
from services.settings import AdapterSettings
from services.sim.adapter import _ring
from services.sim.clock import start_instant
from tests.test_sim_runtime import last_seqs, ours, read_since, run_for

SYMBOLS = 8


async def published(
    nc: Client, nats_server: NatsServer, source: str, start: datetime, speed: float, wall_s: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Quotes and trades (payloads) the sim published from ``start`` for ``wall_s`` seconds."""
    js = nc.jetstream()
    before = await last_seqs(js)
    settings = AdapterSettings(
        nats_url=nats_server.url,
        source_id=source,
        sim_symbols=SYMBOLS,
        sim_speed=speed,
        sim_session="real",
        sim_start=start,
        history_backfill_days=0,
    )
    await run_for(settings, wall_s)
    quotes = ours(await read_since(js, "MD_QUOTE", before["MD_QUOTE"], "md.quote.>"), source)
    trades = ours(await read_since(js, "MD_TRADE", before["MD_TRADE"], "md.trade.>"), source)
    return [p for _, p in quotes], [p for _, p in trades]


def clock(payload: dict[str, Any]) -> str:
    """HH:MM:SS.mmm of a payload's Shanghai timestamp."""
    return str(payload["timestamp"][11:23])


def symbols_within(payloads: list[dict[str, Any]], start: str, end: str) -> Counter[str]:
    return Counter(p["symbol"] for p in payloads if start <= clock(p) < end)


@pytest.mark.slow  # several seconds of sim: not in make test-fast
async def test_opening_bell(nc: Client, nats_server: NatsServer) -> None:
    """09:15-09:25 indicative quotes, one result per symbol at 09:25, quiet until 09:30, then
    every symbol within the first second."""
    quotes, trades = await published(
        nc, nats_server, "simbell", datetime(2026, 11, 19, 9, 14, 50, tzinfo=SHANGHAI), 120, 9.0
    )
    assert not [q for q in quotes if clock(q) < "09:15:00"], "nothing before the auction"
    auction = [q for q in quotes if q["phase"] == "opening_auction"]
    assert {q["symbol"] for q in auction} == {q["symbol"] for q in quotes}
    assert len(symbols_within(auction, "09:15:00", "09:15:01")) == SYMBOLS
    for quote in auction:
        assert quote["volume"] == 0, "no trade in the auction"
        assert quote["open"] == 0
        assert quote["bid_price"] == quote["ask_price"] == quote["last_price"] > 0
        assert quote["bid_volume"] == quote["ask_volume"] > 0
    last_indicative: dict[str, dict[str, Any]] = {}
    for quote in auction:
        last_indicative[quote["symbol"]] = quote

    results = [q for q in quotes if q["phase"] == "pre_continuous"]
    assert Counter(q["symbol"] for q in results) == dict.fromkeys(last_indicative, 1)
    assert all("09:25:00" <= clock(q) < "09:25:01" for q in results)
    opening_trades = [t for t in trades if clock(t) < "09:30:00"]
    assert len(opening_trades) == SYMBOLS
    for trade in opening_trades:
        assert "09:25:00" <= clock(trade) < "09:25:01"
        indicative = last_indicative[trade["symbol"]]
        assert (trade["price"], trade["volume"]) == (
            indicative["last_price"],
            indicative["bid_volume"],
        ), "the auction's indicative match is what trades"
    assert not [q for q in quotes if "09:25:01" <= clock(q) < "09:30:00"], "09:25-09:30 quiet"

    assert len(symbols_within(quotes, "09:30:00", "09:30:01")) == SYMBOLS, "the 09:30 burst"
    assert len(symbols_within(trades, "09:30:00", "09:30:01")) == SYMBOLS, "every stock trades"
    continuous = [q for q in quotes if q["phase"] == "continuous"]
    assert all(clock(q) >= "09:30:00" for q in continuous)
    assert max(clock(q) for q in continuous) > "09:30:30", "then the normal cadence goes on"


@pytest.mark.slow
async def test_lunch_break_is_silent_and_the_afternoon_rings(
    nc: Client, nats_server: NatsServer
) -> None:
    """午间休市: no quote, no trade from 11:30 to 13:00; at 13:00 every symbol at once."""
    quotes, trades = await published(
        nc, nats_server, "simlunch", datetime(2026, 11, 19, 11, 29, 50, tzinfo=SHANGHAI), 1200, 6.5
    )
    assert symbols_within(quotes, "11:29:50", "11:30:00"), "the morning's last quotes"
    assert not symbols_within(quotes, "11:30:00", "13:00:00")
    assert not symbols_within(trades, "11:30:00", "13:00:00")
    assert len(symbols_within(quotes, "13:00:00", "13:00:01")) == SYMBOLS
    assert {q["phase"] for q in quotes} == {"continuous"}


def test_a_bell_rings_every_symbol_within_the_window_then_each_rejoins_its_slot() -> None:
    period, window, count = 3.0, 1.0, 30
    heap = [(100.0 + period * i / count, i) for i in range(count)]  # the regular stagger
    bells, rejoin = _ring(heap, 100.0, window, period)
    assert sorted(i for _, i in bells) == list(range(count))
    assert all(100.0 <= due < 100.0 + window for due, _ in bells)
    slots: dict[int, list[float]] = defaultdict(list)
    for due, index in bells:
        after = rejoin[index]
        assert after - due >= period / 2, "no symbol steps twice in a breath"
        assert after - heap[index][0] in (pytest.approx(0.0), pytest.approx(period))
        slots[int(after - 100.0)].append(after)
    # Rejoined, the symbols are spread over the period again, not bunched as at the bell.
    assert max(len(v) for v in slots.values()) <= count // 3 + 1


def test_a_time_alone_starts_on_the_latest_trading_day() -> None:
    calendar = TradingCalendar.of([date(2026, 11, 20)])  # that Friday a holiday
    sunday = date(2026, 11, 22)
    bell = datetime(2026, 11, 19, 9, 14, 30, tzinfo=SHANGHAI)
    assert start_instant(time(9, 14, 30), calendar, sunday) == bell
    monday = date(2026, 11, 23)
    assert start_instant(time(9, 14, 30), calendar, monday) == bell.replace(day=23)
    assert start_instant(bell, calendar, monday) == bell
    assert start_instant(None, calendar) is None


def test_run_passes_start_to_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run ARGS="--session real --start 09:14:30 --speed 10"` reaches the sim's settings."""
    args = build_parser().parse_args(
        ["run", "--session", "real", "--start", "09:14:30", "--speed", "10"]
    )
    env = _child_env(args, "nats://127.0.0.1:4222", "127.0.0.1", 8000)
    for name in ("MDBRIDGE_SIM_START", "MDBRIDGE_SIM_SESSION", "MDBRIDGE_SIM_SPEED"):
        monkeypatch.setenv(name, env[name])
    settings = AdapterSettings()
    assert (settings.sim_start, settings.sim_session, settings.sim_speed) == (
        time(9, 14, 30),
        "real",
        10.0,
    )
    adapter_args = build_parser().parse_args(["adapter", "sim", "--start", "2026-11-19T09:14:30"])
    assert adapter_args.sim_start == "2026-11-19T09:14:30"
    assert AdapterSettings(sim_start=adapter_args.sim_start).sim_start == datetime(
        2026, 11, 19, 9, 14, 30
    )
