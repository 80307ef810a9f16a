"""Frames written straight to the transport: shared bytes, the same order, the same fallbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from websockets.asyncio.client import connect

from bridge.core.framesink import text_frame
from bridge.ws.session import Session
from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.market import payload_for, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.slowreader import SlowReader
from tests.support.wsclient import WsClient

SYMBOL = "600000.SH"


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), [SYMBOL])
    async with running_bridge(nats_server.url) as handle:
        yield handle


async def publish(nc: NatsClient, data_type: DataType, count: int) -> None:
    subject = data_subject(data_type, SYMBOL, "1m")
    for i in range(count):
        await nc.publish(subject, orjson.dumps(payload_for(data_type, SYMBOL, 10 + i / 100)))
    await nc.flush()


def sessions(bridge: BridgeHandle) -> list[Session]:
    return list(bridge.runtime.connections)


def test_text_frames_have_the_header_rfc6455_gives_each_length() -> None:
    assert text_frame(b"x" * 125)[:2] == bytes([0x81, 125])
    assert text_frame(b"x" * 126)[:4] == bytes([0x81, 126, 0, 126])
    assert text_frame(b"x" * 65536)[:10] == bytes([0x81, 127]) + (65536).to_bytes(8, "big")
    assert len(text_frame(b"x" * 70000)) == 70000 + 10


async def test_members_get_the_same_frames_in_order_written_by_the_flusher(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    clients = [await WsClient.open(bridge.ws_url) for _ in range(2)]
    for client in clients:
        await client.request(
            "subscribe", {"symbol": SYMBOL, "data_type": "trade", "snapshot": False}
        )
    await publish(nc, DataType.TRADE, 200)  # trades: a reader that lags still gets them all
    received: list[list[dict[str, object]]] = []
    for client in clients:
        frames = [await client.data() for _ in range(200)]
        seqs = [frame["metadata"]["seq"] for frame in frames]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 200
        received.append([{k: v for k, v in f.items() if k != "_received"} for f in frames])
    assert received[0] == received[1]  # one frame per message, whoever receives it
    assert all(session.direct_writes > 0 for session in sessions(bridge))
    for client in clients:
        await client.close()


async def test_with_deflate_negotiated_frames_take_the_asgi_path(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    await put_directory(nc.jetstream(), [SYMBOL])
    async with (
        running_bridge(nats_server.url, ws_compression=True) as bridge,
        connect(bridge.ws_url, compression="deflate") as ws,
    ):
        await ws.recv()  # connected
        asked = {"symbol": SYMBOL, "data_type": "quote", "snapshot": False}
        await ws.send(orjson.dumps({"type": "subscribe", "id": "s", "data": asked}).decode())
        assert '"status":"subscribed"' in str(await ws.recv())
        await publish(nc, DataType.QUOTE, 20)
        seen = 0
        async with asyncio.timeout(10):
            while seen < 20:
                seen += str(await ws.recv()).count('"seq":')
        (session,) = sessions(bridge)
        assert session.direct_writes == 0
        assert session.frames_out >= 20


@pytest.mark.parametrize("batch", [True, False])  # one batch frame, or frames in one write
async def test_a_reader_that_stalls_gets_every_trade_in_order_once_it_reads(
    nc: NatsClient, bridge: BridgeHandle, batch: bool
) -> None:
    reader = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
    asked = {"symbol": SYMBOL, "data_type": "trade", "snapshot": False, "batch": batch}
    await reader.send("subscribe", asked)
    while (reply := await reader.recv()) is not None and reply["type"] != "subscribe":
        pass
    await publish(nc, DataType.TRADE, 3000)  # ~1 MB: more than the socket buffers hold
    (session,) = sessions(bridge)
    async with asyncio.timeout(10):
        while not session.socket_waits:  # noqa: ASYNC110 (a counter, not an event, to poll)
            await asyncio.sleep(0.02)  # the socket filled: the writer task took over
    seqs: list[int] = []
    while len(seqs) < 3000:
        frame = await reader.recv(timeout=10)
        assert frame is not None
        if frame["type"] == "trade_data":
            seqs.append(int(frame["metadata"]["seq"]))
    assert seqs == list(range(seqs[0], seqs[0] + 3000))
    assert session.direct_writes > 0
