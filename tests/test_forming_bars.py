"""Forming bars of every period follow the quote (not once a minute), on a real nats-server."""

from __future__ import annotations

import asyncio
from datetime import datetime

import nats
import orjson
from nats.js import JetStreamContext

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI
from services.runner import run_adapter
from services.settings import AdapterSettings

SYMBOL = "600000.SH"


async def run_a_minute_part(server: NatsServer, **overrides: object) -> None:
    settings = AdapterSettings(
        nats_url=server.url,
        source_id="forming",
        sim_symbols=10,
        sim_speed=20,
        sim_start=datetime(2026, 12, 7, 10, 0, 5, tzinfo=SHANGHAI),  # 40 sim s: no minute ends
        history_backfill_days=0,
        **overrides,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter("sim", settings, stop))
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.wait_for(task, 15)


async def updates(js: JetStreamContext, period: str) -> int:
    subject = f"md.kline.{period}.{SYMBOL}"
    info = await js.stream_info("MD_KLINE", subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def test_the_forming_day_bar_carries_the_latest_quote_volume(
    fresh_nats_server: NatsServer,
) -> None:
    await run_a_minute_part(fresh_nats_server)
    client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    quote = orjson.loads((await js.get_last_msg("MD_QUOTE", f"md.quote.{SYMBOL}")).data or b"")
    day = orjson.loads((await js.get_last_msg("MD_KLINE", f"md.kline.1d.{SYMBOL}")).data or b"")
    assert day["closed"] is False
    assert quote["volume"] > 0
    assert day["volume"] == quote["volume"]
    assert day["close"] == quote["last_price"]
    for period in ("5m", "60m", "1d"):
        count = await updates(js, period)
        assert count >= 5, f"{period}: {count} updates within one minute"
    await client.drain()


async def test_tick_periods_can_be_narrowed_to_save_messages(
    fresh_nats_server: NatsServer,
) -> None:
    await run_a_minute_part(fresh_nats_server, kline_tick_periods=("1m",))
    client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    assert await updates(js, "1m") >= 5
    assert await updates(js, "1d") == 0  # once a minute, and no minute ended
    await client.drain()
