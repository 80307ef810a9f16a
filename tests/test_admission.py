"""Admission control on a real bridge: connection rate, counts, priority tiers, frame rate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from bridge import BridgeSettings, create_app
from bridge.errors import AccessConfigError
from mdbridge.natsserver import NatsServer
from tests.support.access import bearer, ending, open_refused
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import WsClient


@asynccontextmanager
async def bridge_with(nats_server: NatsServer, **limits: Any) -> AsyncIterator[BridgeHandle]:
    """A bridge of the test's own (the ``nc`` fixture has provisioned the streams)."""
    async with running_bridge(nats_server.url, **limits) as handle:
        yield handle


async def admitted(url: str, **kwargs: Any) -> WsClient:
    client = await WsClient.open(url, **kwargs)
    first = await client.next()
    assert first["data"]["event"] == "connected", first
    return client


async def close_all(clients: list[WsClient]) -> None:
    for client in clients:
        await client.close()


async def wait_for_count(handle: BridgeHandle, total: int) -> None:
    admission = handle.app.state.access.admission
    for _ in range(200):
        if admission.total == total:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{admission.total} connections counted, expected {total}")


async def test_connection_rate_per_ip(nc: NatsClient, nats_server: NatsServer) -> None:
    async with bridge_with(nats_server, connect_rate_per_ip=1, connect_burst_per_ip=3) as b:
        clients = [await admitted(b.ws_url) for _ in range(3)]
        end = await open_refused(b.ws_url)
        assert end.code == 1013
        error = end.error["data"]
        assert error["code"] == "RATE_LIMITED"
        assert error["limit"] == {"name": "connect_rate_per_ip", "value": 1}
        assert 0 < error["retry_after_ms"] <= 1000
        assert end.reason.startswith("too many new connections from this address; retry_after_ms=")
        await close_all(clients)


async def test_connections_per_ip(nc: NatsClient, nats_server: NatsServer) -> None:
    async with bridge_with(nats_server, max_connections_per_ip=2) as b:
        clients = [await admitted(b.ws_url) for _ in range(2)]
        end = await open_refused(b.ws_url)
        assert end.code == 1013
        assert end.error["data"]["code"] == "CONNECTION_LIMIT"
        assert end.error["data"]["limit"] == {"name": "max_connections_per_ip", "value": 2}
        await clients.pop().close()
        await wait_for_count(b, 1)
        clients.append(await admitted(b.ws_url))  # the seat is free again
        await close_all(clients)


async def test_connections_per_token_subject(nc: NatsClient, nats_server: NatsServer) -> None:
    auth = {"auth_enabled": True, "auth_secret": SECRET, "max_connections_per_subject": 2}
    async with bridge_with(nats_server, **auth) as b:
        clients = [await admitted(b.ws_url, **bearer(token("bot"))) for _ in range(2)]
        end = await open_refused(b.ws_url, **bearer(token("bot")))
        assert end.code == 1013
        assert end.error["data"]["code"] == "CONNECTION_LIMIT"
        assert end.error["data"]["limit"]["name"] == "max_connections_per_subject"
        clients.append(await admitted(b.ws_url, **bearer(token("other"))))
        # the same limit holds when the token comes in an auth frame
        late = await admitted(b.ws_url)
        await late.send("auth", {"token": token("bot")})
        end = await ending(late)
        assert end.code == 1013
        assert end.error["data"]["code"] == "CONNECTION_LIMIT"
        await close_all(clients)


async def test_higher_tiers_keep_their_reserved_seats(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    settings = {
        "auth_enabled": True,
        "auth_secret": SECRET,
        "max_connections": 3,
        "tiers": 2,
        "tier_reserve": 1,
        "retry_after_ms": 2000,
    }
    async with bridge_with(nats_server, **settings) as b:
        low = [await admitted(b.ws_url, **bearer(token(f"low{i}", tier=0))) for i in range(2)]
        end = await open_refused(b.ws_url, **bearer(token("low2", tier=0)))
        assert end.code == 1013
        error = end.error["data"]
        assert error["code"] == "CONNECTION_LIMIT"
        assert error["limit"] == {"name": "max_connections", "value": 2}
        assert 2000 <= error["retry_after_ms"] <= 3000
        assert (
            end.reason == f"server at capacity for tier 0; retry_after_ms={error['retry_after_ms']}"
        )
        # a connection that has not authenticated yet counts as the lowest tier
        assert (await open_refused(b.ws_url)).code == 1013
        high = await admitted(b.ws_url, **bearer(token("vip", tier=1)))
        full = await open_refused(b.ws_url, **bearer(token("vip2", tier=1)))
        assert full.code == 1013
        assert full.error["data"]["limit"] == {"name": "max_connections", "value": 3}
        await close_all([*low, high])


async def test_frame_rate_then_4008_for_repeat_offenders(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    limits = {"frames_per_s": 5, "frame_burst": 5, "frame_rate_strikes": 3}
    async with bridge_with(nats_server, **limits) as b:
        flooder = await admitted(b.ws_url)
        bystander = await admitted(b.ws_url)
        for i in range(5):
            await flooder.send("ping", {"n": i})
        await flooder.send("ping", {"n": "over"})
        replies = [await flooder.next() for _ in range(6)]
        assert [r["type"] for r in replies] == ["pong"] * 5 + ["error"]
        assert replies[5]["data"]["code"] == "RATE_LIMITED"
        assert replies[5]["data"]["limit"] == {"name": "frames_per_s", "value": 5}
        for i in range(10):
            await flooder.send("ping", {"n": i})
        end = await ending(flooder)
        assert end.code == 4008
        assert end.error["data"]["code"] == "RATE_LIMITED"
        assert (await bystander.request("ping", {}))["type"] == "pong"
        await bystander.close()


def test_tier_reserve_must_leave_room_for_the_lowest_tier() -> None:
    with pytest.raises(AccessConfigError, match="tier_reserve"):
        create_app(BridgeSettings(max_connections=10, tiers=3, tier_reserve=5))
