"""The bar history store on a real nats-server: retention by count, the simulator's backfill."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, KLineData, limit_prices
from schemas.history import HistoryRetention, bar_id, history_stream, history_subject
from services.provision import StreamPolicy, ensure_streams
from services.publisher import Publisher
from services.runner import run_adapter
from services.settings import AdapterSettings

SYMBOL = "600000.SH"
START = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)  # a Monday


async def stored(js: JetStreamContext, period: str, symbol: str) -> list[tuple[str, bytes]]:
    """Every stored bar of one subject: (Nats-Msg-Id, payload), oldest first."""
    subject = history_subject(period, symbol)
    sub = await js.subscribe(subject, ordered_consumer=True)
    info = await js.stream_info(history_stream(period), subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    out: list[tuple[str, bytes]] = []
    try:
        while len(out) < count:
            msg = await sub.next_msg(timeout=5)
            out.append(((msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
    finally:
        await sub.unsubscribe()
    return out


async def run_sim(server: NatsServer, seconds: float, **overrides: object) -> None:
    settings = AdapterSettings(
        nats_url=server.url,
        source_id="histsim",
        sim_symbols=20,
        sim_start=START,
        status_interval_s=0.5,
        **overrides,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter("sim", settings, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def test_retention_keeps_the_newest_bars_per_symbol(fresh_nats_server: NatsServer) -> None:
    client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    await ensure_streams(js, StreamPolicy(max_age_s=3600, history=HistoryRetention(5, 2)))
    daily = (await js.stream_info(history_stream("1d"))).config
    assert (daily.max_msgs_per_subject, daily.max_age) == (5, 0)  # the deployment age is not its
    assert (await js.stream_info(history_stream("1m"))).config.max_msgs_per_subject == 2 * 240
    assert (await js.stream_info(history_stream("60m"))).config.max_msgs_per_subject == 2 * 4
    assert (await js.stream_info("MD_QUOTE")).config.max_age == 3600
    publisher = Publisher(js)
    for day in range(8):
        for symbol in (SYMBOL, "000001.SZ"):
            payload = {"symbol": symbol, "timestamp": f"2026-11-{day + 1:02d}T00:00:00+08:00"}
            await publisher.publish(
                history_subject("1d", symbol), payload, bar_id("1d", symbol, day)
            )
    await publisher.flush()
    kept = [orjson.loads(data)["timestamp"][8:10] for _, data in await stored(js, "1d", SYMBOL)]
    assert kept == ["04", "05", "06", "07", "08"]
    assert len(await stored(js, "1d", "000001.SZ")) == 5
    await client.drain()


async def test_sim_backfills_250_daily_bars_once(fresh_nats_server: NatsServer) -> None:
    await run_sim(fresh_nats_server, 4.0)
    client: Client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    first = await stored(js, "1d", SYMBOL)
    assert len(first) == 250
    bars = [KLineData.model_validate_json(data) for _, data in first]
    days = [bar.timestamp.astimezone(SHANGHAI) for bar in bars]
    assert days == sorted(days)
    assert len(set(days)) == 250
    assert all(d.weekday() < 5 and d.time().hour == 0 for d in days)  # trading days, midnight
    assert days[-1].date() == date(2026, 12, 4)  # the Friday before the sim's Monday
    assert bars[-1].close == 10.2  # the walk ends at the directory's prev_close
    for before, bar in itertools.pairwise(bars):
        up, down = limit_prices(before.close, "main", tick=0.01)  # type: ignore[arg-type]
        assert down <= bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close)
        assert max(bar.open, bar.close) <= bar.high <= up
        assert bar.closed
        assert bar.volume > 0
        assert bar.amount > 0
    ids = [msg_id for msg_id, _ in first]
    assert ids[0] == f"bar:1d:{SYMBOL}:{int(days[0].timestamp() * 1000)}"

    await run_sim(fresh_nats_server, 3.0)  # a restart: the same bars, none twice
    assert await stored(js, "1d", SYMBOL) == first
    await client.drain()


async def test_a_replay_stores_the_recordings_final_bars(fresh_nats_server: NatsServer) -> None:
    from services.replay.recording import read_recording
    from tests.support.adapters import SAMPLE_SESSION

    with read_recording(SAMPLE_SESSION) as (_, records):
        finals = [
            orjson.loads(r.data)
            for r in records
            if r.subject == f"md.kline.1m.{SYMBOL}" and orjson.loads(r.data)["closed"]
        ]
    assert finals
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url,
        source_id="replay",
        replay_file=SAMPLE_SESSION,
        replay_speed="max",
    )
    await asyncio.wait_for(run_adapter("replay", settings, asyncio.Event()), 60)
    client = await nats.connect(fresh_nats_server.url)
    kept = [orjson.loads(data) for _, data in await stored(client.jetstream(), "1m", SYMBOL)]
    assert kept == finals
    await client.drain()


async def test_bars_closing_during_a_backfill_are_stored_after_it(
    fresh_nats_server: NatsServer,
) -> None:
    from services.history import HistoryWriter, backfill
    from services.history.simbars import day_start_ms

    def day_bar(day: int) -> tuple[int, dict[str, object]]:
        stamp = f"2026-12-{day:02d}T00:00:00.000+08:00"
        return day_start_ms(date(2026, 12, day)), {"symbol": SYMBOL, "timestamp": stamp}

    client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    await ensure_streams(js)
    publisher = Publisher(js)
    writer = HistoryWriter(publisher)
    await writer.closed_bar("1d", *day_bar(7))  # the live day closes while the backfill runs
    await publisher.flush()
    assert await stored(js, "1d", SYMBOL) == []  # held back
    past = [day_bar(1), day_bar(2)]
    result = await backfill(js, publisher, "1d", [(SYMBOL, past)])
    assert result.published == 2
    await writer.backfilled()
    await publisher.flush()
    kept = [orjson.loads(data)["timestamp"][:10] for _, data in await stored(js, "1d", SYMBOL)]
    assert kept == ["2026-12-01", "2026-12-02", "2026-12-07"]  # oldest first, as readers seek
    again = await backfill(js, publisher, "1d", [(SYMBOL, past)])
    assert (again.published, again.skipped) == (0, 2)
    await client.drain()
