"""The same ticks give the same bars whichever source derives them: the simulator, a replay of
its quotes, or xtquant's whole-market feed carrying them.

The sample session holds the simulator's quotes and the bars it published from them (the
close of a day: continuous trading, the closing auction, the final bars). Its quotes alone
are then replayed (the replay derives bars), and pushed as xtquant ticks through the stand-in
(the adapter derives bars); every bar state, in order, must match.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js import JetStreamContext

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams
from services.replay import Record, RecordingWriter, read_recording
from services.runner import run_adapter
from services.settings import AdapterSettings
from tests.support.adapters import SAMPLE_SESSION as SAMPLE
from tests.support.adapters import eventually, running_adapter
from tests.support.xtfake import FakeServer, fresh_server, instrument_detail, price, tick_record

BAR_FIELDS = ("timestamp", "start", "open", "high", "low", "close", "volume", "amount", "closed")
OPEN_INT = {
    "pre_open": 11,
    "opening_auction": 12,
    "pre_continuous": 12,
    "continuous": 13,
    "lunch_break": 14,
    "closed": 15,
    "closing_auction": 18,
}
Bars = dict[tuple[str, str], list[tuple[Any, ...]]]


def bars_of(payloads: list[dict[str, Any]]) -> Bars:
    """Bar states per (period, symbol), in order, without ``source``."""
    out: Bars = defaultdict(list)
    for bar in payloads:
        out[bar["period"], bar["symbol"]].append(tuple(bar[f] for f in BAR_FIELDS))
    return dict(out)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


@pytest.fixture(scope="module")
def sample() -> list[Record]:
    with read_recording(SAMPLE) as (_, records):
        return list(records)


async def stream_payloads(js: JetStreamContext, stream: str) -> list[dict[str, Any]]:
    count = (await js.stream_info(stream)).state.messages
    sub = await js.subscribe(">", stream=stream, ordered_consumer=True)
    try:
        return [orjson.loads((await sub.next_msg(timeout=5)).data) for _ in range(count)]
    finally:
        await sub.unsubscribe()


def xt_tick(quote: dict[str, Any]) -> dict[str, Any]:
    """The xtquant tick a terminal would have sent for this quote: lots, noise, openInt."""

    def px(value: float) -> float:
        return price(round(value * 100))

    time_ms = round(datetime.fromisoformat(quote["timestamp"]).timestamp() * 1000)
    return tick_record(
        time_ms,
        px(quote["last_price"]),
        open_=px(quote["open"]),
        high=px(quote["high"]),
        low=px(quote["low"]),
        last_close=quote["prev_close"],
        lots=quote["volume"] // 100,
        pvolume=quote["volume"],
        amount=quote["amount"],
        open_int=OPEN_INT[quote["phase"]],
        bids=[(px(p), v // 100) for p, v in quote["bids"]],
        asks=[(px(p), v // 100) for p, v in quote["asks"]],
    )


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_sim_replay_and_xtquant_derive_identical_bars(
    sample: list[Record], fake: FakeServer, fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    quotes = [r for r in sample if r.subject.startswith("md.quote.")]
    sim = bars_of([orjson.loads(r.data) for r in sample if r.subject.startswith("md.kline.")])
    assert len(sim) == 8 * 6  # every symbol, every period
    assert all(states[-1][-1] is True for states in sim.values())  # closed at 15:00

    # -- replay of the quotes alone: the replay derives the bars --------------------------
    quotes_only = tmp_path / "quotes.jsonl.gz"
    with RecordingWriter(quotes_only, ["md.quote.>"], sample[0].t_ns, "test") as writer:
        for record in sample:
            if not record.subject.startswith("md.kline."):
                writer.write(record)
    replayed_server = NatsServer(
        store_dir=tmp_path / "replayed", port=free_port(), log_file=tmp_path / "replayed.log"
    ).start()
    try:
        settings = AdapterSettings(
            nats_url=replayed_server.url,
            source_id="replay",
            replay_file=quotes_only,
            replay_speed="max",
        )
        await asyncio.wait_for(run_adapter("replay", settings, asyncio.Event()), 60)
        nc = await nats.connect(replayed_server.url)
        replayed = bars_of(await stream_payloads(nc.jetstream(), "MD_KLINE"))
        await nc.close()
    finally:
        replayed_server.stop()
    assert replayed == sim

    # -- xtquant: the same quotes as ticks through the stand-in ---------------------------
    infos = [orjson.loads(r.data) for r in sample if r.subject.startswith("$KV.")]
    fake.details = {
        i["symbol"]: instrument_detail(
            i["symbol"], i["name"], i["prev_close"], i["price_tick"], 0.1
        )
        for i in infos
    }
    config = AdapterSettings(
        nats_url=fresh_nats_server.url,
        source_id="xt",
        calendar="real",
        xt_symbols=tuple(fake.details),
        xt_single_max=1,  # more than that: the whole-market push, which has no bars
    )
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        async with running_adapter("xtquant", config):
            await eventually(lambda: fake.live())
            pushed = len(fake.details)  # the start-up snapshot: last session's final quotes
            await eventually(lambda: _count(js, "MD_QUOTE", pushed))
            batch: dict[str, dict[str, Any]] = {}

            async def flush() -> None:
                nonlocal pushed
                fake.push_ticks(batch)
                pushed += len(batch)
                batch.clear()
                await eventually(  # taken before the next push: no conflation
                    lambda: _count(js, "MD_QUOTE", pushed), timeout=10, interval=0.005
                )

            for record in quotes:
                symbol = record.subject.removeprefix("md.quote.")
                if symbol in batch:
                    await flush()
                batch[symbol] = xt_tick(orjson.loads(record.data))
            await flush()
            xt = bars_of(await stream_payloads(js, "MD_KLINE"))
    finally:
        await nc.close()
    assert xt == sim


async def _count(js: JetStreamContext, stream: str, count: int) -> bool:
    return bool((await js.stream_info(stream)).state.messages >= count)
