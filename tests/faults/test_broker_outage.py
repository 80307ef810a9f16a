"""kill -9 of the nats-server mid-stream, restarted on the same store: clients see no gap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.client import Backoff, MarketDataClient
from mdbridge.natsserver import NatsServer
from tests.faults.conftest import SYMBOLS
from tests.support.feeder import Feeder
from tests.support.invariants import stream_truth
from tests.support.processes import BridgeProcess
from tests.support.recorder import RecordingClient, by_subject, wait_caught_up

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTAGES = 2


async def delivered(clients: list[RecordingClient]) -> int:
    return sum(len(rows) for c in clients for rows in c.received.values())


async def grows(clients: list[RecordingClient], by: int, timeout: float) -> bool:
    start = await delivered(clients)
    for _ in range(int(timeout / 0.1)):
        if await delivered(clients) >= start + by:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_clients_see_no_gap_across_nats_server_kills(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    bridge = BridgeProcess(broker.url, tmp_path).start()
    bridges.append(bridge)
    clients = []
    for i in range(6):
        client = RecordingClient(
            MarketDataClient(bridge.ws_url, backoff=Backoff(0.1, 1.0), dedupe=False)
        )
        await client.client.connect()
        await client.subscribe(SYMBOLS[i::3], snapshot=False)
        client.start()
        clients.append(client)
    epochs = clients[0].client.epochs
    feeder = await Feeder(broker.url, SYMBOLS, 300).start()
    assert await grows(clients, 200, 10)
    for _ in range(OUTAGES):
        broker.kill()  # SIGKILL: no flush, no goodbye
        await asyncio.sleep(1.0)
        broker.start()  # same store, same port
        assert await grows(clients, 300, 30), "delivery did not resume after the restart"
    await feeder.stop()
    truth = by_subject(await stream_truth(broker_nc.jetstream(), "MD_QUOTE", "md.quote.>", 1))
    assert await wait_caught_up(clients, truth, 20)
    checked = 0
    for client in clients:
        for report in client.check(truth, "broker outage"):
            assert report.ok, str(report)
            checked += report.received
        assert client.client.duplicates == 0
    assert checked >= feeder.published  # every symbol has subscribers
    # The store kept the stream, so its epoch (and every resume point) is still valid.
    late = MarketDataClient(bridge.ws_url)
    await late.connect()
    assert late.epochs == epochs
    await late.close()
    print(f"broker outages: {OUTAGES}, clients: {len(clients)}, messages checked: {checked}")
    for client in clients:
        await client.close()
