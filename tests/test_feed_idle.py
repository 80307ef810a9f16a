"""A stream feed whose interest dropped to zero starts again at the stream's end."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

SYMBOL = "601318.SH"


async def test_history_published_while_nobody_listened_is_not_replayed_as_live(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    js = nc.jetstream()
    await put_directory(js, [SYMBOL])
    async with running_bridge(nats_server.url) as bridge:
        feed = bridge.runtime.hub._feeds[DataType.QUOTE]  # the shared consumer under test
        client = await WsClient.open(bridge.ws_url)
        request = {"symbol": SYMBOL, "snapshot": False}
        await client.request("subscribe", request)
        await publish(js, DataType.QUOTE, SYMBOL, 50.0)
        await client.data()
        await client.request("unsubscribe", {"symbols": [SYMBOL]})
        for _ in range(100):  # the consumer stops shortly after the last release
            if feed.idle:
                break
            await asyncio.sleep(0.05)
        assert feed.idle
        for i in range(30):  # nobody is subscribed: this is history, not anyone's gap
            await publish(js, DataType.QUOTE, SYMBOL, 51.0 + i / 100)
        await client.request("subscribe", request)
        live = await publish(js, DataType.QUOTE, SYMBOL, 52.0)
        first = await client.data()
        assert first["metadata"]["seq"] == live
        await client.close()
