"""Pulling a JetStream consumer through raw subscriptions, on the bridge's client and on a
plain nats-py one (a host app's lent connection): every message once, in order, statuses
understood, a vanished consumer reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bridge.core import natsclient
from bridge.core.natsclient import (
    PENDING,
    STREAM_SEQ,
    TIMESTAMP_NS,
    BridgeNatsClient,
    RawMessage,
    ack_tokens,
    subscribe_raw,
)
from bridge.observe.probe import live_times
from bridge.recovery.pull import (
    ConsumerGoneError,
    PullLoop,
)
from mdbridge.natsserver import NatsServer
from schemas import STREAM_BY_TYPE, DataType, data_subject

STREAM = STREAM_BY_TYPE[DataType.QUOTE]
CLIENTS = ["bridge", "plain"]


@pytest.fixture(params=CLIENTS)
async def client(
    request: pytest.FixtureRequest, nats_server: NatsServer
) -> AsyncIterator[NatsClient]:
    if request.param == "bridge":
        client = await natsclient.connect(servers=[nats_server.url])
        assert isinstance(client, BridgeNatsClient)
    else:
        client = await nats.connect(nats_server.url)
        assert not isinstance(client, BridgeNatsClient)
    yield client
    await client.close()


async def store(nc: NatsClient, symbol: str, count: int) -> list[int]:
    """``count`` quotes of ``symbol`` with adapter-like headers; their stream sequences."""
    js = nc.jetstream()
    subject = data_subject(DataType.QUOTE, symbol)
    seqs = []
    for i in range(count):
        headers = {"Nats-Msg-Id": f"{symbol}-raw-{i}", "traceparent": "00-ab-cd-01"}
        ack = await js.publish(subject, b'{"i":%d}' % i, headers=headers)
        seqs.append(ack.seq)
    return seqs


async def consumer(nc: NatsClient, symbol: str) -> str:
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=data_subject(DataType.QUOTE, symbol),
        inactive_threshold=30.0,
        mem_storage=True,
        num_replicas=1,
    )
    info = await nc.jetstream().add_consumer(STREAM, config)
    return info.name


async def always() -> bool:
    return True


async def test_a_pull_reads_every_message_once_in_order(nc: NatsClient, client: NatsClient) -> None:
    symbol = "600100.SH"
    stored = await store(nc, symbol, 2_345)
    name = await consumer(nc, symbol)
    got: list[int] = []
    payloads: list[bytes] = []
    runs = 0

    def on_messages(messages: list[RawMessage]) -> bool:
        nonlocal runs
        runs += 1
        for subject, reply, _, data in messages:
            tokens = ack_tokens(reply)
            assert subject == data_subject(DataType.QUOTE, symbol).encode()
            assert int(tokens[TIMESTAMP_NS]) > 0
            got.append(int(tokens[STREAM_SEQ]))
            payloads.append(data)
            if tokens[PENDING] == b"0":
                return False
        return True

    pull = PullLoop(client, STREAM, name, on_messages, batch=1000, expires_s=5.0, gate=always)
    await asyncio.wait_for(pull.run(), 30)
    assert got == stored
    assert payloads == [b'{"i":%d}' % i for i in range(len(stored))]
    assert pull.received == len(stored)
    # the bridge's parser hands a read's messages over together; nats-py one by one
    assert runs < len(stored) if isinstance(client, BridgeNatsClient) else runs == len(stored)


async def test_an_expired_request_ends_with_its_status(nc: NatsClient, client: NatsClient) -> None:
    """Nothing to pull: the request expires (status 408) and the loop asks the gate again."""
    name = await consumer(nc, "600101.SH")
    gates = 0

    async def twice() -> bool:
        nonlocal gates
        gates += 1
        return gates < 3

    def on_messages(messages: list[RawMessage]) -> bool:
        raise AssertionError(f"nothing was stored, yet {messages!r}")

    pull = PullLoop(client, STREAM, name, on_messages, batch=10, expires_s=0.5, gate=twice)
    await asyncio.wait_for(pull.run(), 10)  # without the status it would wait 3 heartbeats
    assert gates == 3


async def test_a_deleted_consumer_is_reported(nc: NatsClient, client: NatsClient) -> None:
    name = await consumer(nc, "600102.SH")
    await nc.jetstream().delete_consumer(STREAM, name)

    def on_messages(messages: list[RawMessage]) -> bool:
        return True

    pull = PullLoop(client, STREAM, name, on_messages, batch=10, expires_s=5.0, gate=always)
    with pytest.raises(ConsumerGoneError):
        await asyncio.wait_for(pull.run(), 10)


async def test_a_raw_subscription_beside_a_plain_one_gets_its_own_in_order(
    nats_server: NatsServer,
) -> None:
    """Messages interleaved on the wire: each subscription gets its own, in order, once;
    nothing after the raw one unsubscribed."""
    client = await natsclient.connect(servers=[nats_server.url])
    seen: list[tuple[str, bytes]] = []
    try:
        raw = await subscribe_raw(
            client, "raw.order.a", lambda run: seen.extend(("raw", m[3]) for m in run)
        )

        async def plain(msg: Msg) -> None:
            seen.append(("plain", msg.data))

        await client.subscribe("raw.order.b", cb=plain)
        expected = []
        for i in range(300):
            subject, kind = ("raw.order.a", "raw") if i % 7 else ("raw.order.b", "plain")
            await client.publish(subject, b"%d" % i)
            expected.append((kind, b"%d" % i))
        await client.flush()
        for _ in range(100):
            if len(seen) == len(expected):
                break
            await asyncio.sleep(0.05)
        raw_seen = [item for item in seen if item[0] == "raw"]
        assert raw_seen == [item for item in expected if item[0] == "raw"]
        assert [item for item in seen if item[0] == "plain"] == [
            item for item in expected if item[0] == "plain"
        ]
        assert len(seen) == len(expected)
        await raw.unsubscribe()
        await client.publish("raw.order.a", b"after")
        await client.flush()
        await asyncio.sleep(0.2)
        assert ("raw", b"after") not in seen
    finally:
        await client.close()


def test_ack_tokens_read_both_reply_layouts() -> None:
    v1 = b"$JS.ACK.MD_QUOTE.c1.2.345.300.1764920000123456789.7"
    v2 = b"$JS.ACK.hub.ACCHASH.MD_QUOTE.c1.2.345.300.1764920000123456789.7.r4nd0m"
    for reply in (v1, v2):
        tokens = ack_tokens(reply)
        assert tokens[STREAM_SEQ] == b"345"
        assert tokens[TIMESTAMP_NS] == b"1764920000123456789"
        assert tokens[PENDING] == b"7"
    for bad in (b"_INBOX.abc.def", b"$JS.ACK.MD_QUOTE.c1.2", b"_INBOX.a.b.c.d.e.f.g.h.i.j"):
        with pytest.raises(ValueError, match="not a JetStream message reply"):
            ack_tokens(bad)


def test_the_bridge_client_is_used_only_where_nats_py_matches(
    monkeypatch: pytest.MonkeyPatch, nats_server: NatsServer
) -> None:
    assert natsclient.internals_match()  # the pinned nats-py

    async def connect() -> NatsClient:
        return await natsclient.connect(servers=[nats_server.url])

    async def kinds() -> tuple[bool, bool]:
        matching = await connect()
        monkeypatch.setattr(natsclient, "internals_match", lambda: False)
        other = await connect()
        await matching.close()
        await other.close()
        return isinstance(matching, BridgeNatsClient), isinstance(other, BridgeNatsClient)

    assert asyncio.run(kinds()) == (True, False)


def test_the_latency_sampler_skips_history_frames() -> None:
    head = '{"type":"market_data","timestamp":"2026-12-05T09:30:00.000+08:00","data":{}'
    live = head + ',"metadata":{"subject":"md.quote.SH.600000","seq":5,"broker_ms":1764900000000}}'
    assert live_times(live) == (1764900000000, None)
    assert live_times(live[:-2] + ',"replayed":true}}') is None
    assert live_times(live[:-2] + ',"delivered":2}}') is None
