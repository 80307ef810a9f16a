"""/metrics against a real nats-server, a real uvicorn bridge and real WebSocket clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from bridge.observe.probe import live_times
from bridge.ws.hooks import CURRENT, resume_result
from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject, epoch_ms_to_iso, status_subject
from tests.support.market import payload_for, publish, put_directory
from tests.support.scrape import scrape, value
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOLS = ["600036.SH", "601318.SH", "000858.SZ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url, monitor_interval_s=0.2, queue_max_bytes=4096, source_timeout_s=60
    ) as handle:
        yield handle


async def test_scrape_covers_connections_messages_latency_sources_and_process(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    await js.publish(
        status_subject("metrics-src"),
        orjson.dumps({"source": "metrics-src", "event": "heartbeat", "phase": "continuous"}),
    )
    client = await WsClient.open(bridge.ws_url)
    reply = await client.request(
        "subscribe", {"symbols": SYMBOLS[:2], "data_type": "quote", "snapshot": False}
    )
    assert [r["status"] for r in reply["data"]["subscriptions"]] == ["subscribed", "subscribed"]
    await client.request("subscribe", {"symbol": SYMBOLS[0], "data_type": "trade"})
    for i in range(20):
        await publish(js, DataType.QUOTE, SYMBOLS[i % 2], 10 + i / 100)
        await client.data()
        await asyncio.sleep(0.01)  # separate frames, so the sampler sees several
    error = await client.request("no_such_request")
    assert error["type"] == "error"

    samples = await scrape(bridge.http_url)
    assert value(samples, "mdbridge_ws_connections_active") == 1
    assert value(samples, "mdbridge_ws_connections_opened_total") == 1
    assert value(samples, "mdbridge_ws_subscriptions", data_type="quote") == 2
    assert value(samples, "mdbridge_ws_subscriptions", data_type="trade") == 1
    assert value(samples, "mdbridge_ws_subscriptions", data_type="depth") == 0
    assert value(samples, "mdbridge_ws_messages_in_total") == 3
    assert value(samples, "mdbridge_ws_messages_out_total") >= 20 + 3
    assert value(samples, "mdbridge_ws_sent_bytes_total") > 20 * 300
    assert value(samples, "mdbridge_nats_messages_in_total") >= 20
    assert value(samples, "mdbridge_nats_received_bytes_total") > 20 * 300
    assert value(samples, "mdbridge_nats_connected") == 1
    assert value(samples, "mdbridge_nats_reconnects_total") == 0
    assert value(samples, "mdbridge_source_up", source="metrics-src") == 1
    for histogram in (
        "mdbridge_ws_latency_broker_milliseconds",
        "mdbridge_ws_latency_source_milliseconds",
    ):
        count = value(samples, f"{histogram}_count")
        assert count >= 1
        assert value(samples, f"{histogram}_bucket", le="+Inf") == count
        assert value(samples, f"{histogram}_sum") / count < 5_000  # loopback, sane bound
    assert value(samples, "mdbridge_ws_queue_depth_count") >= 1
    assert value(samples, "mdbridge_ws_queue_max_bytes") >= 0
    assert value(samples, "mdbridge_process_cpu_time_seconds_total") > 0
    assert value(samples, "mdbridge_process_memory_rss_bytes") > 10 * 2**20
    assert value(samples, "mdbridge_process_network_io_bytes_total", direction="receive") > 0
    assert value(samples, "mdbridge_process_network_io_bytes_total", direction="transmit") > 0

    sent_before = value(samples, "mdbridge_ws_messages_out_total")
    await client.close()
    for _ in range(100):
        samples = await scrape(bridge.http_url)
        if value(samples, "mdbridge_ws_connections_active") == 0:
            break
        await asyncio.sleep(0.05)
    assert value(samples, "mdbridge_ws_connections_closed_total", code="1000") == 1
    assert value(samples, "mdbridge_ws_subscriptions", data_type="quote") == 0
    # what the closed connection sent is still counted: counters never go down
    assert value(samples, "mdbridge_ws_messages_out_total") >= sent_before
    assert value(samples, "mdbridge_ws_errors_total") == 1


async def test_slow_consumer_close_and_dropped_messages_are_counted(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    """A client that never reads: its queue (4 KiB here) overflows with trades, 4009."""
    port = bridge.settings.port
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", port))
    handshake = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(raw, handshake.encode())
    answer = await asyncio.wait_for(loop.sock_recv(raw, 1024), 5)
    assert b"101" in answer.split(b"\r\n", 1)[0]
    body = orjson.dumps({"type": "subscribe", "data": {"symbol": SYMBOLS[2], "data_type": "trade"}})
    mask = b"\x00\x00\x00\x00"  # a client frame must be masked; a zero mask keeps it simple
    await loop.sock_sendall(raw, bytes([0x81, 0x80 | len(body)]) + mask + body)
    subject = data_subject(DataType.TRADE, SYMBOLS[2])
    try:
        for burst in range(20):  # bursts beat the writer: the 4 KiB queue overflows
            for i in range(1000):
                trade = payload_for(DataType.TRADE, SYMBOLS[2], 10 + (i % 50) / 100)
                await nc.publish(subject, orjson.dumps(trade))  # stored by the stream, no ack
            await nc.flush()
            samples = await scrape(bridge.http_url)
            if value(samples, "mdbridge_ws_slow_consumer_closes_total") >= 1:
                break
            await asyncio.sleep(0.1 * burst)
        assert value(samples, "mdbridge_ws_slow_consumer_closes_total") == 1
        assert value(samples, "mdbridge_ws_connections_closed_total", code="4009") == 1
        assert value(samples, "mdbridge_ws_dropped_total") >= 1
    finally:
        raw.close()


async def test_resume_results_are_counted_through_the_connection_hook(
    bridge: BridgeHandle,
) -> None:
    client = await WsClient.open(bridge.ws_url)
    connection_id = (await client.next())["data"]["connection_id"]
    info = bridge.app.state.observability.connections.get(connection_id)
    assert info is not None
    # The hook a session calls while serving a resume; here in a context bound the same way.
    from bridge.observe.observability import _ConnectionTelemetry

    token = CURRENT.set(_ConnectionTelemetry(bridge.app.state.observability, info))
    try:
        resume_result(recovered=True)
        resume_result(recovered=True)
        resume_result(recovered=False)
    finally:
        CURRENT.reset(token)
    resume_result(recovered=True)  # no connection bound: nothing counted, nothing raised
    samples = await scrape(bridge.http_url)
    assert value(samples, "mdbridge_ws_resumes_total", result="recovered") == 2
    assert value(samples, "mdbridge_ws_resumes_total", result="not_recovered") == 1
    await client.close()


def test_live_times_reads_broker_and_source_time_of_live_frames_only() -> None:
    source_ms = 1_795_000_000_123
    payload = orjson.dumps({"symbol": "600036.SH", "timestamp": epoch_ms_to_iso(source_ms)})
    live = (
        '{"type":"market_data","timestamp":"2026-11-20T09:30:03.200+08:00","data":'
        + payload.decode()
        + ',"metadata":{"subscription_id":"quote:600036.SH:tick","subject":"md.quote.600036.SH",'
        '"seq":7,"broker_ms":1795000000150}}'
    )
    times = live_times(live)
    assert times is not None
    assert times[0] == 1_795_000_000_150
    assert times[1] == pytest.approx(source_ms)
    assert live_times(live[:-2] + ',"snapshot":true}}') is None
    assert live_times('{"type":"status","data":{"event":"heartbeat"}}') is None
    no_time = live.replace(epoch_ms_to_iso(source_ms), "garbage")
    assert live_times(no_time) == (1_795_000_000_150, None)
