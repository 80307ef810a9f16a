"""Clients on the far side of bad links: one that vanishes without closing (half-open, as
behind a NAT that forgot it), and readers behind 200 ms of delay and 2 % packet loss."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import pytest

from mdbridge.client import Backoff, DataMessage, MarketDataClient
from tests.net.conftest import SYMBOLS, Build, market
from tests.net.hosts import fetch, nats_url, open_sockets, start_bridge, start_nats, ws_url
from tests.support.feeder import Feeder
from tests.support.invariants import Received
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# Real processes on test hosts in namespaces: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PING_S = 2.0  # the bridge's WebSocket ping period and timeout in the half-open test

READER = """
import asyncio, json, sys
import websockets

async def main(url, symbols):
    async with websockets.connect(url, ping_interval=None) as ws:
        request = {"type": "subscribe", "id": "s", "data": {"symbols": symbols}}
        await ws.send(json.dumps(request))
        async for _ in ws:
            pass

asyncio.run(main(sys.argv[1], sys.argv[2].split(",")))
"""


def active(bridge_status: object) -> int:
    assert isinstance(bridge_status, dict), bridge_status
    return int(bridge_status["connections"]["active"])


async def test_a_half_open_client_is_detected_by_ping_and_its_socket_freed(
    network: Build, tmp_path: Path
) -> None:
    net = network(["nats", "bridge", "client"])
    start_nats(net, "nats", tmp_path)
    url = nats_url(net, "nats")
    async with market(url):
        bridge = start_bridge(
            net, "bridge", tmp_path, url, ws_ping_interval_s=PING_S, ws_ping_timeout_s=PING_S
        )
        baseline = open_sockets(bridge.process)
        feeder = await Feeder(url, SYMBOLS, 50).start()
        try:
            with (tmp_path / "reader.log").open("ab") as log:
                reader = [sys.executable, "-c", READER, ws_url(bridge), ",".join(SYMBOLS)]
                net.popen("client", reader, log)
            assert await until(lambda: active(fetch(bridge, "/admin/status")[1]) == 1, 20)
            assert open_sockets(bridge.process) == baseline + 1

            cut_at = time.monotonic()
            net.cut("client", "bridge")  # the client is gone; no packet says so

            def status() -> int:
                return active(fetch(bridge, "/admin/status")[1])

            freed = await until(lambda: status() == 0, 30, 0.25)
            detected_s = time.monotonic() - cut_at
            assert freed, f"the half-open connection was still held:\n{bridge.tail()}"
            assert await until(lambda: open_sockets(bridge.process) == baseline, 30, 0.25), (
                f"{open_sockets(bridge.process) - baseline} socket(s) of the dead client still open"
            )
            closed_s = time.monotonic() - cut_at
            # sanity, not timing: the ping period plus its timeout, with room for a busy machine
            assert detected_s < 2 * PING_S + 10
            print(
                f"half-open client: detected after {detected_s:.1f}s and its socket closed after "
                f"{closed_s:.1f}s (ws_ping_interval_s={PING_S:g}, ws_ping_timeout_s={PING_S:g})"
            )
        finally:
            await feeder.stop()


async def test_readers_behind_200ms_and_2pct_loss_get_everything_in_time(
    network: Build, tmp_path: Path
) -> None:
    net = network(["nats", "bridge"])
    start_nats(net, "nats", tmp_path)
    url = nats_url(net, "nats")
    delay_ms, loss = 200.0, 0.02
    async with market(url) as nc:
        bridge = start_bridge(net, "bridge", tmp_path, url)
        net.impair("here", "bridge", delay_ms=delay_ms, loss=loss)  # the clients' link only
        latencies: list[float] = []
        clients = []
        for i in range(3):
            client = RecordingClient(
                MarketDataClient(ws_url(bridge), backoff=Backoff(0.1, 1.0), dedupe=False)
            )
            await client.client.connect()
            await client.subscribe(SYMBOLS[i::3], snapshot=False)
            clients.append(client)

        async def record(client: RecordingClient) -> None:
            async for message in client.client:
                if isinstance(message, DataMessage):
                    latencies.append(time.time() * 1000 - message.broker_ms)
                    received = Received(message.subject, message.seq, message.snapshot)
                    client.received[message.subscription_id].append(received)

        tasks = [asyncio.create_task(record(c)) for c in clients]
        feeder = await Feeder(url, SYMBOLS, 60).start()
        try:
            await asyncio.sleep(20)
            await feeder.stop()
            checked = await verify(nc, clients, "200 ms + 2 % loss", timeout=60)
        finally:
            await feeder.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    beyond = p50 - delay_ms
    print(
        f"{delay_ms:g} ms + {loss:.0%} loss on the client link: {len(ordered)} deliveries, "
        f"broker-to-client p50 {p50:.0f} ms, p99 {p99:.0f} ms; the bridge's share at p50 "
        f"{beyond:.0f} ms; {checked} checked, 0 gaps, 0 duplicates"
    )
    # the seeds' bound is 100 ms from update to client; the link's own delay comes on top
    assert beyond < 100
