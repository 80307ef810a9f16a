"""A market wildcard beside an exact symbol on one stream (found by the hostile-input fuzz).

JetStream refuses a consumer whose filter subjects overlap (``md.quote.*.SH`` and
``md.quote.600000.SH``); the shared feed must keep only the wildcard and route both.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType
from schemas.subjects import subject_matches
from tests.support.market import publish, put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("md.quote.*.SH", "md.quote.600000.SH", True),
        ("md.quote.*.SH", "md.quote.600000.SZ", False),
        ("md.quote.>", "md.quote.600000.SH", True),
        ("md.quote.>", "md.quote", False),
        ("md.quote.600000.SH", "md.quote.600000.SH", True),
        ("md.quote.600000.SH", "md.quote.600001.SH", False),
        ("md.kline.1m.*.SH", "md.kline.1m.600000.SH", True),
        ("md.kline.1m.*.SH", "md.kline.5m.600000.SH", False),
        ("md.quote.*.SH", "md.quote.600000.SH.x", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


async def test_wildcard_and_exact_subscriptions_share_one_consumer(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    js = nc.jetstream()
    await put_directory(js, ["600000.SH", "600519.SH"])
    async with running_bridge(nats_server.url) as bridge:
        market = await WsClient.open(bridge.ws_url)
        single = await WsClient.open(bridge.ws_url)
        wild = await market.request("subscribe", {"symbol": "*.SH", "snapshot": False})
        exact = await single.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
        assert wild["data"]["subscriptions"][0]["status"] == "subscribed"
        assert exact["data"]["subscriptions"][0]["status"] == "subscribed"
        seq = await publish(js, DataType.QUOTE, "600000.SH", 10.5)
        assert (await market.data())["metadata"]["seq"] == seq
        assert (await single.data())["metadata"]["seq"] == seq
        # the wildcard goes away: the exact subscriber keeps its feed
        await market.request("unsubscribe", {"subscription_ids": ["quote:*.SH:tick"]})
        await asyncio.sleep(0.5)  # past the lazy narrowing of the filters
        seq = await publish(js, DataType.QUOTE, "600000.SH", 10.6)
        assert (await single.data())["metadata"]["seq"] == seq
        await market.close()
        await single.close()
