"""The adapter runtime end to end: run_adapter("sim") against a real nats-server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from mdbridge.natsserver import NatsServer, free_port
from processkit.natsconf import NatsOptions
from schemas import (
    SHANGHAI,
    STREAM_BY_TYPE,
    SYMBOLS_BUCKET,
    DataType,
    DepthData,
    Kind,
    KLineData,
    QuoteData,
    SymbolInfo,
    TradeData,
    kind_of,
)
from services.errors import UnknownAdapterError
from services.publisher import Publisher
from services.runner import ADAPTERS, run_adapter
from services.settings import AdapterSettings
from tests.support.adapters import eventually

MODELS: dict[DataType, Any] = {
    DataType.QUOTE: QuoteData,
    DataType.DEPTH: DepthData,
    DataType.TRADE: TradeData,
    DataType.KLINE: KLineData,
}


async def last_seqs(js: JetStreamContext) -> dict[str, int]:
    names = [*STREAM_BY_TYPE.values(), "MD_STATUS"]
    return {name: (await js.stream_info(name)).state.last_seq for name in names}


async def read_since(js: JetStreamContext, stream: str, after: int, subject: str) -> list[Msg]:
    """Every message of ``stream`` after sequence ``after``, through an ordered consumer."""
    last = (await js.stream_info(stream)).state.last_seq
    if last <= after:
        return []
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        ),
    )
    messages: list[Msg] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            messages.append(msg)
            if msg.metadata.sequence.stream >= last:
                return messages
    finally:
        await sub.unsubscribe()


async def run_for(settings: AdapterSettings, seconds: float) -> None:
    """Run the simulator for ``seconds`` of wall time from its first quote (start-up, such as
    the directory with its pinyin, is not counted)."""
    stop = asyncio.Event()
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        before = (await js.stream_info("MD_QUOTE")).state.last_seq
        task = asyncio.create_task(run_adapter("sim", settings, stop))
        await eventually(lambda: _quoted_since(js, before), timeout=20, interval=0.01)
    finally:
        await nc.close()
    await asyncio.sleep(seconds)
    assert not task.done(), task
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def _quoted_since(js: JetStreamContext, seq: int) -> bool:
    return bool((await js.stream_info("MD_QUOTE")).state.last_seq > seq)


def ours(messages: list[Msg], source: str) -> list[tuple[Msg, dict[str, Any]]]:
    decoded = [(m, orjson.loads(m.data)) for m in messages]
    return [(m, p) for m, p in decoded if p.get("source") == source]


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_sim_publishes_every_data_type(nc: Client, nats_server: NatsServer) -> None:
    js = nc.jetstream()
    source = "simtest"
    before = await last_seqs(js)
    settings = AdapterSettings(
        nats_url=nats_server.url,
        source_id=source,
        sim_symbols=60,
        sim_speed=20,
        status_interval_s=0.4,
    )
    await run_for(settings, 2.0)

    published: dict[DataType, list[tuple[Msg, dict[str, Any]]]] = {}
    for data_type, stream in STREAM_BY_TYPE.items():
        messages = await read_since(js, stream, before[stream], f"md.{data_type.value}.>")
        published[data_type] = ours(messages, source)
        assert published[data_type], f"nothing in {stream}"
        ids = [m.headers["Nats-Msg-Id"] for m, _ in published[data_type] if m.headers]
        assert len(ids) == len(published[data_type]), "every message carries a Nats-Msg-Id"
        assert len(set(ids)) == len(ids)
        for msg, payload in published[data_type]:
            model = MODELS[data_type].model_validate(payload)
            assert msg.subject.endswith(model.symbol)
            assert set(payload) == set(MODELS[data_type].model_fields)

    ticks = [(m, p) for m, p in published[DataType.QUOTE] if m.subject == "md.quote.600000.SH"]
    assert len(ticks) >= 6  # a snapshot per 0.15 s wall at speed 20
    stamps = [datetime.fromisoformat(q["timestamp"]) for _, q in ticks]
    assert stamps == sorted(stamps)
    stored = [m.metadata.timestamp for m, _ in ticks]  # the broker's wall clock
    sim_s = (stamps[-1] - stamps[0]).total_seconds()
    assert 10 < sim_s / (stored[-1] - stored[0]).total_seconds() < 40  # sim time runs 20x
    quote_msg = next(m for m, _ in published[DataType.QUOTE] if m.subject == "md.quote.600000.SH")
    assert quote_msg.headers is not None
    assert quote_msg.headers["Nats-Msg-Id"].startswith("quote:600000.SH:")
    symbols = {p["symbol"] for _, p in published[DataType.QUOTE]}
    assert len(symbols) == 60
    indices = {s for s in symbols if kind_of(s) is Kind.INDEX}
    assert len(indices) == 9  # the major indices come with the named stocks
    assert {p["symbol"] for _, p in published[DataType.DEPTH]} == symbols - indices
    assert not indices & {p["symbol"] for _, p in published[DataType.TRADE]}  # a level only
    trade_msg, trade = published[DataType.TRADE][0]
    assert trade_msg.headers is not None
    assert trade_msg.headers["Nats-Msg-Id"] == f"trade:{trade['symbol']}:{trade['trade_id']}"
    periods = Counter(m.subject.split(".")[2] for m, _ in published[DataType.KLINE])
    assert periods["1m"] > 0

    kv = await js.key_value(SYMBOLS_BUCKET)
    entry = await kv.get("600000.SH")
    assert entry.value is not None
    info = SymbolInfo.model_validate_json(entry.value)
    assert (info.name, info.board, info.prev_close) == ("浦发银行", "main", 10.2)

    status_msgs = await read_since(js, "MD_STATUS", before["MD_STATUS"], f"md.status.{source}")
    events = [orjson.loads(m.data) for m in status_msgs]
    assert next(e["event"] for e in events) == "up"
    assert events[-1]["event"] == "down"
    assert sum(e["event"] == "heartbeat" for e in events) >= 3
    assert events[-1]["symbols"] == 60
    assert events[-1]["phase"] == "continuous"
    assert events[-1]["published"] > 1000
    assert set(events[-1]) == {
        "source",
        "event",
        "timestamp",
        "phase",
        "symbols",
        "published",
        "duplicates",
    }


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_real_session_closes_the_day(nc: Client, nats_server: NatsServer) -> None:
    """Real sessions on a fast sim clock from 14:56:50: closing auction, match, final bars."""
    js = nc.jetstream()
    source = "simclose"
    before = await last_seqs(js)
    settings = AdapterSettings(
        nats_url=nats_server.url,
        source_id=source,
        sim_symbols=8,
        sim_speed=90,
        sim_session="real",
        sim_start=datetime(2026, 11, 20, 14, 56, 50, tzinfo=SHANGHAI),
        status_interval_s=0.5,
    )
    await run_for(settings, 2.6)  # 14:56:50 to 15:00:44 sim time

    quotes = ours(await read_since(js, "MD_QUOTE", before["MD_QUOTE"], "md.quote.>"), source)
    phases = Counter(p["phase"] for _, p in quotes)
    assert phases["closing_auction"] > 0
    assert phases["continuous"] > 0
    assert phases["closed"] == 8, "one final snapshot per symbol"
    for _, quote in quotes:
        if quote["phase"] == "closing_auction":  # 收盘集合竞价: the indicative match
            assert quote["bid_price"] == quote["ask_price"] > 0
            assert quote["bid_volume"] == quote["ask_volume"] > 0
        elif quote["phase"] == "closed":  # every close result in the bell's first second
            assert "T15:00:00." in quote["timestamp"], quote["timestamp"]
    trades = ours(await read_since(js, "MD_TRADE", before["MD_TRADE"], "md.trade.>"), source)
    assert not [p for _, p in trades if "T14:57" in p["timestamp"] or "T14:58" in p["timestamp"]]
    klines = ours(await read_since(js, "MD_KLINE", before["MD_KLINE"], "md.kline.>"), source)
    final_days = [p for _, p in klines if p["period"] == "1d" and p["closed"]]
    assert len(final_days) == 8
    final_last_minute = {
        p["symbol"]
        for _, p in klines
        if p["period"] == "1m"
        and p["closed"]
        and "T15:00:00" in p["timestamp"]
        and "T14:59:00" in p["start"]
    }
    assert len(final_last_minute) == 8


async def test_unknown_adapter_names_the_known_ones() -> None:
    settings = AdapterSettings(nats_url="nats://127.0.0.1:1")
    with pytest.raises(UnknownAdapterError, match="sim") as caught:
        await run_adapter("nope", settings, asyncio.Event())
    assert "nope" in str(caught.value)
    assert "sim" in ADAPTERS


async def test_stop_while_waiting_for_nats_returns() -> None:
    settings = AdapterSettings(nats_url=f"nats://127.0.0.1:{free_port()}")  # nobody listens
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter("sim", settings, stop))
    await asyncio.sleep(0.3)
    assert not task.done()
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 2


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDBRIDGE_SIM_SYMBOLS", "5400")
    monkeypatch.setenv("MDBRIDGE_SIM_SESSION", "real")
    monkeypatch.setenv("MDBRIDGE_STREAM_STORAGE", "memory")
    monkeypatch.setenv("MDBRIDGE_NATS_URL", "nats://a:4222,nats://b:4222")
    settings = AdapterSettings()
    assert (settings.sim_symbols, settings.sim_session) == (5400, "real")
    assert settings.nats_servers() == ["nats://a:4222", "nats://b:4222"]
    assert settings.stream_policy().storage.value == "memory"
    with pytest.raises(ValueError, match="frozen"):
        settings.sim_seed = 1  # type: ignore[misc]
    monkeypatch.setenv("MDBRIDGE_SIM_SYMBOLS", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        AdapterSettings()
    own = set(AdapterSettings.model_fields) - set(NatsOptions.model_fields)
    assert all(AdapterSettings.model_fields[name].description for name in own)


async def test_publisher_gives_up_on_acks_that_never_come(nc: Client) -> None:
    js = nc.jetstream()
    sink = await nc.subscribe("simtest.noack.>")  # no stream, a plain subscriber: no ack ever
    publisher = Publisher(js, max_in_flight=2, ack_timeout=0.3)
    started = time.monotonic()
    for i in range(3):
        await asyncio.wait_for(publisher.publish(f"simtest.noack.{i}", {"i": i}, f"noack:{i}"), 3)
    assert 0.3 <= time.monotonic() - started < 2
    assert publisher.failed == 2
    await sink.unsubscribe()


@pytest.mark.slow
async def test_sim_survives_a_nats_restart(fresh_nats_server: NatsServer) -> None:
    source = "simfault"
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url, source_id=source, sim_symbols=20, sim_speed=20
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter("sim", settings, stop))
    await asyncio.sleep(0.8)
    fresh_nats_server.kill()
    await asyncio.sleep(0.3)
    fresh_nats_server.start()
    restarted = time.time()
    await asyncio.sleep(2.0)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    client = await nats.connect(fresh_nats_server.url)
    try:
        js = client.jetstream()
        last = await js.get_last_msg("MD_QUOTE", "md.quote.600000.SH")
        assert last.data is not None
        stamp = datetime.fromisoformat(orjson.loads(last.data)["timestamp"]).timestamp()
        assert stamp > restarted, "quotes flow again after the restart"
        down = await js.get_last_msg("MD_STATUS", f"md.status.{source}")
        assert down.data is not None
        assert orjson.loads(down.data)["event"] == "down"
    finally:
        await client.close()
