"""Broken WebSocket framing from a raw socket: the right close code, and nobody else notices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest

from mdbridge.natsserver import NatsServer
from services.provision import ensure_streams
from tests.support.rawws import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, RawWebSocket, frame
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    client = await nats.connect(nats_server.url)
    await ensure_streams(client.jetstream())
    async with running_bridge(nats_server.url) as handle:
        yield handle
    await client.drain()


@pytest.fixture
async def bystander(bridge: BridgeHandle) -> AsyncIterator[WsClient]:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    yield client
    assert (await client.request("ping", {"still": "here"}))["data"] == {"still": "here"}
    await client.close()


async def opened(bridge: BridgeHandle) -> RawWebSocket:
    status, raw = await RawWebSocket.handshake(bridge.settings.port)
    assert status == 101
    return raw


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("reserved opcode", frame(0x3, b"{}"), 1002),
        ("reserved control opcode", frame(0xB, b""), 1002),
        ("unmasked client frame", frame(OP_TEXT, b'{"type":"ping"}', masked=False), 1002),
        ("reserved bit without an extension", frame(OP_TEXT, b"{}", rsv=0b100), 1002),
        ("fragmented control frame", frame(OP_PING, b"x", fin=False), 1002),
        ("control frame over 125 bytes", frame(OP_PING, b"x" * 200), 1002),
        ("length header of 2**40 bytes", frame(OP_BINARY, b"", length=1 << 40), 1009),
        ("invalid UTF-8 in a text frame", frame(OP_TEXT, b'{"type":"\xff\xfe"}'), 1007),
        ("a lone surrogate in UTF-8", frame(OP_TEXT, b'"\xed\xa0\x80"'), 1007),
        ("close frame with a bad code", frame(OP_CLOSE, (999).to_bytes(2, "big")), 1002),
    ],
)
async def test_broken_framing_gets_the_protocol_close_code(
    bridge: BridgeHandle, bystander: WsClient, name: str, data: bytes, code: int
) -> None:
    raw = await opened(bridge)
    raw.send(data)
    assert await raw.close_code() == code, name
    await raw.close()


async def test_truncated_frame_then_eof_ends_only_that_connection(
    bridge: BridgeHandle, bystander: WsClient
) -> None:
    raw = await opened(bridge)
    raw.send(frame(OP_TEXT, b'{"type":"ping","data":{}}', length=100)[:20])
    raw.writer.write_eof()
    assert await raw.at_eof()
    await raw.close()
    for _ in range(200):  # the server forgets it
        if len(bridge.runtime.connections) == 1:
            break
        await asyncio.sleep(0.02)
    assert len(bridge.runtime.connections) == 1


async def test_well_formed_raw_frames_still_work(bridge: BridgeHandle) -> None:
    raw = await opened(bridge)
    raw.send(frame(OP_TEXT, b'{"type":"ping","id":"raw","data":{"n":1}}'))
    seen = []
    for _ in range(3):
        got = await raw.read_frame()
        assert got is not None
        seen.append(got[1])
        if b'"pong"' in got[1]:
            break
    assert b'"id":"raw"' in seen[-1]
    await raw.close()


async def test_origin_checks_defeat_dns_rebinding_while_auth_is_off(bridge: BridgeHandle) -> None:
    port = bridge.settings.port
    own = f"http://127.0.0.1:{port}"
    status, raw = await RawWebSocket.handshake(port, headers={"Origin": own})
    assert status == 101
    await raw.close()
    # a hostile page whose name resolves to 127.0.0.1: same-origin on paper, not loopback
    evil = f"evil.example:{port}"
    status, raw = await RawWebSocket.handshake(
        port, host=evil, headers={"Origin": f"http://{evil}"}
    )
    assert status == 403
    await raw.close()
    status, raw = await RawWebSocket.handshake(port, headers={"Origin": "null"})
    assert status == 403
    await raw.close()
