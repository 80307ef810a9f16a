"""The xtquant adapter against the stand-in's faults: a dropped link, a silent feed, a whole
market pushed at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI
from services.settings import AdapterSettings
from tests.support.adapters import eventually, last_payload, running_adapter
from tests.support.xtfake import FakeServer, fresh_server, price, tick_record

T0 = int(datetime(2026, 11, 20, 10, 0, 0, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


@pytest.fixture
async def nc(fresh_nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client: NatsClient = await nats.connect(fresh_nats_server.url)
    yield client
    await client.close()


@pytest.fixture
def js(nc: NatsClient) -> JetStreamContext:
    return nc.jetstream()


def settings(url: str, **overrides: Any) -> AdapterSettings:
    base: dict[str, Any] = {
        "nats_url": url,
        "source_id": "xt",
        "calendar": "always_open",
        "xt_symbols": ("600000.SH", "000001.SZ"),
        "status_interval_s": 0.2,
        "xt_reconnect_max_s": 0.5,
        "xt_silence_s": 60,
        "xt_klines": "derive",  # one subscription per symbol: ticks
    }
    return AdapterSettings(**(base | overrides))


def tick(time_ms: int, last: int = 1030, lots: int = 100) -> dict[str, Any]:
    return tick_record(
        time_ms,
        price(last),
        open_=price(1020),
        high=price(1041),
        low=price(1015),
        last_close=10.2,
        lots=lots,
        amount=lots * 100 * 10.3,
        bids=[(price(last - 1), 5)],
        asks=[(price(last + 1), 7)],
    )


async def quote_at(js: JetStreamContext, symbol: str, time_ms: int) -> bool:
    """Whether the last quote of ``symbol`` in JetStream is the one of ``time_ms``."""
    payload = await last_payload(js, "MD_QUOTE", f"md.quote.{symbol}")
    stamp = datetime.fromisoformat(payload["timestamp"]).timestamp() if payload else 0
    return payload is not None and round(stamp * 1000) == time_ms


async def status_event(js: JetStreamContext) -> dict[str, Any] | None:
    return await last_payload(js, "MD_STATUS", "md.status.xt")


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_a_dropped_link_is_reconnected_and_resubscribed(
    fresh_nats_server: NatsServer, fake: FakeServer, nc: NatsClient, js: JetStreamContext
) -> None:
    statuses: list[dict[str, Any]] = []

    async def on_status(msg: Msg) -> None:
        statuses.append(orjson.loads(msg.data))

    await nc.subscribe("md.status.xt", cb=on_status)
    async with running_adapter("xtquant", settings(fresh_nats_server.url)):
        await eventually(lambda: len(fake.live()) == 2)
        fake.push_ticks({"600000.SH": tick(T0)})
        await eventually(lambda: quote_at(js, "600000.SH", T0))
        before = {sub.seq for sub in fake.live()}

        fake.drop_link(down=True)  # MiniQMT goes away: the subscriptions die with the client
        down = await eventually(lambda: [s for s in statuses if s["event"] == "down"], timeout=5)
        assert down[0]["reason"] == "MiniQMT link disconnected"  # the bridge is told, and why
        await asyncio.sleep(0.6)  # attempts fail while it is down
        assert fake.live() == []
        fake.restore()

        await eventually(lambda: len(fake.live()) == 2, timeout=10)
        assert not before & {sub.seq for sub in fake.live()}  # new subscriptions, same plan
        # "up", "down" on every beat while down, "up" again once resubscribed
        await eventually(
            lambda: [s["event"] for s in statuses if s["event"] != "heartbeat"][-1] == "up"
        )
        fake.push_ticks({"600000.SH": tick(T0 + 3000, lots=150)})
        await eventually(lambda: quote_at(js, "600000.SH", T0 + 3000))
    names = [name for name, _ in fake.calls]
    # every (re)connect of the adapter registered the status callback first, as the SDK
    # requires (a data call on a dropped link, the history backfill's say, makes the SDK
    # connect by itself: get_client(); the callback registered before still holds then)
    connects = [i for i, name in enumerate(names) if name == "reconnect"]
    assert len(connects) >= 2
    assert all(names[i - 1] == "watch_xtquant_status" for i in connects), names


async def test_a_silent_feed_is_resubscribed_while_trading(
    fresh_nats_server: NatsServer, fake: FakeServer, js: JetStreamContext
) -> None:
    async with running_adapter("xtquant", settings(fresh_nats_server.url, xt_silence_s=0.5)):
        await eventually(lambda: len(fake.live()) == 2)
        stuck = {sub.seq for sub in fake.live()}
        fake.go_silent()  # still subscribed, nothing comes: only a watchdog can tell
        fresh = await eventually(
            lambda: {s.seq for s in fake.live()} - stuck if len(fake.live()) == 2 else None,
            timeout=5,
        )
        assert len(fresh) == 2
        fake.push_ticks({"000001.SZ": tick(T0 + 1)})
        await eventually(lambda: quote_at(js, "000001.SZ", T0 + 1))


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_silence_outside_trading_hours_is_no_fault(
    fresh_nats_server: NatsServer, fake: FakeServer, js: JetStreamContext
) -> None:
    today = datetime.now(SHANGHAI).date()
    holidays = (today, date(today.year, 1, 1))  # closed all day, whatever the hour
    config = settings(fresh_nats_server.url, calendar="real", holidays=holidays, xt_silence_s=0.3)
    async with running_adapter("xtquant", config):
        await eventually(lambda: len(fake.live()) == 2)
        subscribed = {sub.seq for sub in fake.live()}
        fake.go_silent()
        await asyncio.sleep(1.2)
        assert fake.client is not None
        assert set(fake.client.subscriptions) == subscribed
        status = await eventually(lambda: status_event(js))
        assert status["event"] != "down"
        assert status["phase"] == "closed"


async def test_a_whole_market_arrives_as_one_dict_per_code(
    fresh_nats_server: NatsServer, fake: FakeServer, js: JetStreamContext
) -> None:
    config = settings(fresh_nats_server.url, xt_symbols=(), xt_single_max=3)
    async with running_adapter("xtquant", config):
        live = await eventually(lambda: fake.live())
        assert [(s.period, s.codes) for s in live] == [("whole", frozenset({"SH", "SZ", "BJ"}))]
        universe = fake.sectors["沪深京A股"]  # with the default sectors' indices and ETFs
        for step in range(3):
            ticks = {s: tick(T0 + step * 3000, 1030 + step, 100 * (step + 1)) for s in universe}
            ticks["000001.SH"] = tick(T0 + step * 3000, lots=100 * (step + 1))  # an index
            ticks["113050.SH"] = tick(T0 + step * 3000)  # a bond: not in the universe
            fake.push_ticks(ticks)
            await eventually(lambda: quote_at(js, universe[-1], T0 + step * 3000))  # noqa: B023
        for symbol in universe:
            assert await quote_at(js, symbol, T0 + 6000)
        assert await quote_at(js, "000001.SH", T0 + 6000)  # the index: a quote ...
        assert await last_payload(js, "MD_DEPTH", "md.depth.000001.SH") is None  # no book
        assert await last_payload(js, "MD_TRADE", "md.trade.000001.SH") is None  # nor trades
        assert await last_payload(js, "MD_QUOTE", "md.quote.113050.SH") is None
        # no bars from xtquant in this mode: derived from the ticks
        bar = await last_payload(js, "MD_KLINE", "md.kline.1m.600000.SH")
        assert bar is not None
        assert (bar["volume"], bar["source"], bar["close"]) == (30000, "xt", 10.32)
        trade = await last_payload(js, "MD_TRADE", "md.trade.600000.SH")
        assert trade is not None
        assert (trade["derived"], trade["volume"], trade["price"]) == (True, 10000, 10.32)
