"""Ack-mode durables are a bounded, owned resource (issue 14, finding 1).

A flood of durables from one user hits its quota with ``DURABLE_LIMIT`` while other users
keep ack mode, live data and an exact resume; names are scoped per user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client as NatsClient

from bridge.recovery.ackmode import consumer_name, principal_tag
from mdbridge.natsserver import NatsServer
from schemas import DataType
from schemas.streams import STREAM_MAX_CONSUMERS
from tests.support.access import bearer
from tests.support.invariants import stream_truth
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import DATA_TYPES, Frame, WsClient

SYMBOLS = [f"6000{i:02d}.SH" for i in range(20)]
PER_USER = 5
PER_STREAM = 8


@pytest.fixture
async def bridge(
    fresh_nc: NatsClient, fresh_nats_server: NatsServer
) -> AsyncIterator[BridgeHandle]:
    await put_directory(fresh_nc.jetstream(), SYMBOLS)
    async with running_bridge(
        fresh_nats_server.url,
        auth_enabled=True,
        auth_secret=SECRET,
        ack_max_durables_per_principal=PER_USER,
        ack_max_durables_per_stream=PER_STREAM,
        ack_inactive_threshold_s=3600.0,
        ack_inactive_threshold_low_tier_s=60.0,
    ) as handle:
        yield handle


async def connect(bridge: BridgeHandle, user: str, tier: int = 0) -> WsClient:
    client = await WsClient.open(bridge.ws_url, **bearer(token(user, tier=tier)))
    await client.wait_for(lambda f: f["data"].get("event") == "authenticated")
    return client


def ack(symbol: str, durable: str) -> dict[str, object]:
    return {"symbol": symbol, "ack": True, "durable": durable, "snapshot": False}


def is_error_for(request_id: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "error" and f.get("id") == request_id


async def client_durables(nc: NatsClient) -> list[str]:
    infos = await nc.jetstream().consumers_info("MD_QUOTE")
    return [i.name for i in infos if i.name.startswith("mdb_")]


async def test_a_durable_flood_hits_the_quota_and_others_stay_served(
    fresh_nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = fresh_nc.jetstream()
    # The attacker: three connections, six symbols each, a new durable name every time.
    outcomes: list[dict[str, object]] = []
    limit_errors: list[Frame] = []
    for round_ in range(3):
        mallory = await connect(bridge, "mallory")
        for i, symbol in enumerate(SYMBOLS[:6]):
            request_id = await mallory.send("subscribe", ack(symbol, f"m{round_}x{i}"))
            reply = await mallory.reply(request_id)
            outcomes += reply["data"]["subscriptions"]
            if reply["data"]["subscriptions"][0]["status"] == "error":
                error = await mallory.wait_for(is_error_for(request_id))
                limit_errors.append(error)
        await mallory.close()  # leaves: the durables stay, as in the finding
    assert [o["status"] for o in outcomes].count("subscribed") == PER_USER
    refused = [o for o in outcomes if o["status"] == "error"]
    assert len(refused) == 18 - PER_USER
    assert {o["code"] for o in refused} == {"DURABLE_LIMIT"}
    assert limit_errors[0]["data"]["code"] == "DURABLE_LIMIT"
    assert limit_errors[0]["data"]["limit"] == {
        "name": "ack_max_durables_per_principal",
        "value": PER_USER,
    }
    mine = "mdb_" + principal_tag("mallory") + "_"
    assert sum(n.startswith(mine) for n in await client_durables(fresh_nc)) == PER_USER

    # Another user still gets ack mode, under a name mallory cannot reach with the same durable.
    alice = await connect(bridge, "alice", tier=1)
    reply = await alice.request("subscribe", ack(SYMBOLS[10], "book"))
    result = reply["data"]["subscriptions"][0]
    assert result["status"] == "subscribed"
    assert result["consumer"] == consumer_name("alice", "book", result["subscription_id"])
    info = await js.consumer_info("MD_QUOTE", result["consumer"])
    assert info.config.inactive_threshold == pytest.approx(3600.0)  # tier 1: the long one
    seqs = [await publish(js, DataType.QUOTE, SYMBOLS[10], 10 + i / 100) for i in range(3)]
    got = [await alice.data() for _ in seqs]
    assert [m["metadata"]["seq"] for m in got] == seqs

    # Mallory, at her quota, cannot take alice's durable over with the same names.
    mallory = await connect(bridge, "mallory")
    reply = await mallory.request("subscribe", ack(SYMBOLS[10], "book"))
    assert reply["data"]["subscriptions"][0]["code"] == "DURABLE_LIMIT"
    await mallory.close()
    more = await publish(js, DataType.QUOTE, SYMBOLS[10], 11.0)
    assert (await alice.data())["metadata"]["seq"] == more  # still alice's, not ended

    # A plain subscriber with a resume is exact: every message after its position, once.
    bob = await connect(bridge, "bob")
    first = await bob.request("subscribe", {"symbol": SYMBOLS[11], "snapshot": False})
    start = first["data"]["subscriptions"][0]["seq"]
    epoch = first["data"]["subscriptions"][0]["epoch"]
    await bob.close()
    missed = [await publish(js, DataType.QUOTE, SYMBOLS[11], 12 + i / 100) for i in range(5)]
    bob = await connect(bridge, "bob")
    resume = {"symbol": SYMBOLS[11], "resume_from": {"seq": start, "epoch": epoch}}
    await bob.request("subscribe", resume)
    replayed: list[int] = []
    while True:
        frame = await bob.wait_for(
            lambda f: f["type"] in DATA_TYPES or f["data"].get("event") == "recovered"
        )
        if frame["type"] != "status":
            replayed.append(frame["metadata"]["seq"])
            continue
        assert frame["data"]["recovered"] is True
        break
    truth = await stream_truth(js, "MD_QUOTE", f"md.quote.{SYMBOLS[11]}", start + 1)
    assert replayed == [seq for _, seq in truth] == missed

    # The bridge-wide quota: all users together hold at most PER_STREAM durables per stream.
    eve = await connect(bridge, "eve", tier=1)
    statuses = []
    for i, symbol in enumerate(SYMBOLS[12:17]):
        reply = await eve.request("subscribe", ack(symbol, f"e{i}"))
        statuses.append(reply["data"]["subscriptions"][0])
    held = PER_USER + 1  # mallory's and alice's
    assert [s["status"] for s in statuses].count("subscribed") == PER_STREAM - held
    assert statuses[-1]["code"] == "DURABLE_LIMIT"
    assert len(await client_durables(fresh_nc)) == PER_STREAM
    for client in (alice, bob, eve):
        await client.close()


async def test_unsubscribing_frees_quota_and_low_tiers_expire_sooner(
    fresh_nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = fresh_nc.jetstream()
    carol = await connect(bridge, "carol")  # tier 0
    keys = []
    for i in range(PER_USER):
        reply = await carol.request("subscribe", ack(SYMBOLS[i], f"c{i}"))
        result = reply["data"]["subscriptions"][0]
        assert result["status"] == "subscribed"
        keys.append(result["subscription_id"])
    info = await js.consumer_info("MD_QUOTE", result["consumer"])
    assert info.config.inactive_threshold == pytest.approx(60.0)  # the low-tier threshold
    reply = await carol.request("subscribe", ack(SYMBOLS[PER_USER], "one-more"))
    assert reply["data"]["subscriptions"][0]["code"] == "DURABLE_LIMIT"
    await carol.request("unsubscribe", {"subscription_ids": keys[:1]})  # deletes the durable
    reply = await carol.request("subscribe", ack(SYMBOLS[PER_USER], "one-more"))
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    await carol.close()


async def test_streams_are_provisioned_with_a_consumer_limit(fresh_nc: NatsClient) -> None:
    for stream in ("MD_QUOTE", "MD_KLINE", "MD_TRADE", "MD_DEPTH"):
        info = await fresh_nc.jetstream().stream_info(stream)
        assert info.config.max_consumers == STREAM_MAX_CONSUMERS
