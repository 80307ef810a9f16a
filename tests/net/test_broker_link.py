"""The bridge's link to NATS goes silent for 10 s — no FIN, no RST — while clients read.

The bridge must notice on its own (NATS pings: ``nats_ping_interval_s`` ×
(``nats_max_outstanding_pings`` + 1)), tell its clients (``status broker_down``), and once the
link is back deliver everything the stream took meanwhile, exactly (``broker_up``, then no
gap and no duplicate against the stream). With nats-py's default ping period (120 s) the same
cut goes unnoticed: the second test shows what the setting buys.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mdbridge.client import Backoff, MarketDataClient
from tests.net.conftest import SYMBOLS, Build, market
from tests.net.hosts import nats_url, ready, start_bridge, start_nats, ws_url
from tests.support.feeder import Feeder
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# Real processes on test hosts in namespaces: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CUT_S = 10.0
CLIENTS = 3


def delivered(clients: list[RecordingClient]) -> int:
    return sum(len(rows) for c in clients for rows in c.received.values())


async def readers(url: str) -> list[RecordingClient]:
    clients = []
    for i in range(CLIENTS):
        client = RecordingClient(MarketDataClient(url, backoff=Backoff(0.1, 1.0), dedupe=False))
        await client.client.connect()
        await client.subscribe(SYMBOLS[i::CLIENTS], snapshot=False)
        client.start()
        clients.append(client)
    return clients


async def test_a_silent_nats_link_is_noticed_told_and_recovered_exactly(
    network: Build, tmp_path: Path
) -> None:
    net = network(["nats", "bridge"])
    start_nats(net, "nats", tmp_path)
    url = nats_url(net, "nats")
    async with market(url) as nc:
        bridge = start_bridge(net, "bridge", tmp_path, url)
        clients = await readers(ws_url(bridge))
        feeder = await Feeder(url, SYMBOLS, 100).start()
        try:
            assert await until(lambda: delivered(clients) >= 100, 15)

            cut_at = time.monotonic()
            net.cut("bridge", "nats")
            told = await until(lambda: all(c.events("broker_down") for c in clients), CUT_S)
            noticed_s = time.monotonic() - cut_at
            assert told, f"no broker_down within {CUT_S:g}s of the cut:\n{bridge.tail()}"
            assert not ready(bridge)  # /readyz says it cannot serve
            await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
            before = delivered(clients)
            healed_at = time.monotonic()
            net.heal("bridge", "nats")
            assert await until(lambda: all(c.events("broker_up") for c in clients), 30)
            assert await until(lambda: delivered(clients) >= before + 100, 30)
            recovered_s = time.monotonic() - healed_at
            await feeder.stop()
            checked = await verify(nc, clients, "after a 10 s silent NATS link")
            assert all(c.client.connected for c in clients)  # nobody was disconnected
            down_ms = clients[0].events("broker_up")[0].data["down_ms"]
            print(
                f"silent NATS link {CUT_S:g}s: noticed after {noticed_s:.1f}s, delivering again "
                f"{recovered_s:.1f}s after the heal (broker_down for {down_ms} ms), "
                f"{checked} messages checked, 0 gaps, 0 duplicates"
            )
        finally:
            await feeder.stop()
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_with_the_default_nats_ping_the_same_cut_goes_unnoticed(
    network: Build, tmp_path: Path
) -> None:
    net = network(["nats", "bridge"])
    start_nats(net, "nats", tmp_path)
    url = nats_url(net, "nats")
    async with market(url):
        bridge = start_bridge(net, "bridge", tmp_path, url, nats_ping_interval_s=120)
        clients = await readers(ws_url(bridge))
        try:
            net.cut("bridge", "nats")
            told = await until(lambda: any(c.events("broker_down") for c in clients), CUT_S)
            assert not told  # the connection looks alive while nothing can arrive
            net.heal("bridge", "nats")
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
