"""Bridges that die, hang or are told to stop: library clients move on, resume, lose nothing."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.client import Backoff, MarketDataClient
from mdbridge.natsserver import NatsServer
from tests.faults.conftest import SYMBOLS, start_pair
from tests.support.feeder import Feeder
from tests.support.processes import BridgeProcess
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STORM_CLIENTS = 300


async def open_clients(
    count: int, urls: list[str], symbols_per_client: int = 2, **options: object
) -> list[RecordingClient]:
    async def one(i: int) -> RecordingClient:
        # dedupe off: the checker must see whatever the bridges sent, duplicates included
        client = RecordingClient(MarketDataClient(urls, dedupe=False, **options))  # type: ignore[arg-type]
        await client.client.connect()
        picks = [SYMBOLS[(i + k) % len(SYMBOLS)] for k in range(symbols_per_client)]
        await client.subscribe(picks, snapshot=False)
        client.start()
        return client

    clients = []
    for start in range(0, count, 50):  # connect in waves, not all at once
        clients += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 50))))
    return list(clients)


def moved(clients: list[RecordingClient], url: str) -> bool:
    return all(c.client.url == url and c.client.connected for c in clients)


async def close_all(clients: list[RecordingClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients))


async def test_kill_9_of_a_bridge_the_client_resumes_on_another(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    first, second = start_pair(broker, tmp_path, bridges)
    clients = await open_clients(10, [first.ws_url, second.ws_url], backoff=Backoff(0.1, 2.0))
    feeder = await Feeder(broker.url, SYMBOLS, 300).start()
    await asyncio.sleep(1.0)
    first.kill()
    assert await until(lambda: moved(clients, second.ws_url), 15)
    await asyncio.sleep(1.0)
    await feeder.stop()
    checked = await verify(broker_nc, clients, "bridge kill -9")
    recovered = [s for c in clients for s in c.events("recovered")]
    assert len(recovered) == 20  # two subscriptions per client
    assert all(s.data["recovered"] for s in recovered)
    print(f"bridge kill -9: clients {len(clients)}, messages checked {checked}")
    await close_all(clients)


async def test_sigterm_every_client_gets_shutdown_then_1012_and_resumes_elsewhere(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    first, second = start_pair(
        broker,
        tmp_path,
        bridges,
        shutdown_grace_s=5,
        shutdown_reconnect_min_ms=100,
        shutdown_reconnect_max_ms=1500,
    )
    clients = await open_clients(20, [first.ws_url, second.ws_url])
    feeder = await Feeder(broker.url, SYMBOLS, 300).start()
    await asyncio.sleep(1.0)
    stopped_at = time.monotonic()
    first.signal(signal.SIGTERM)
    code = await asyncio.to_thread(first.wait, 15)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    assert time.monotonic() - stopped_at < 5 + 2  # within the grace period
    assert await until(lambda: moved(clients, second.ws_url), 15)
    await asyncio.sleep(1.0)
    await feeder.stop()
    checked = await verify(broker_nc, clients, "SIGTERM")
    for client in clients:
        notices = client.events("shutdown")
        assert len(notices) == 1
        assert 100 <= notices[0].data["reconnect_after_ms"] <= 1500
        assert client.client.close_codes[0] == 1012
    print(f"SIGTERM: clients {len(clients)}, messages checked {checked}")
    await close_all(clients)


async def test_a_hung_bridge_is_left_when_its_heartbeats_stop(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    first, second = start_pair(broker, tmp_path, bridges, heartbeat_interval_s=0.3)
    clients = await open_clients(
        5, [first.ws_url, second.ws_url], heartbeat_timeout_s=1.5, backoff=Backoff(0.1, 1.0)
    )
    feeder = await Feeder(broker.url, SYMBOLS, 200).start()
    await asyncio.sleep(1.0)
    first.signal(signal.SIGSTOP)  # alive but silent: the TCP connections stay open
    try:
        assert await until(lambda: moved(clients, second.ws_url), 15)
    finally:
        first.kill()
    await asyncio.sleep(0.5)
    await feeder.stop()
    checked = await verify(broker_nc, clients, "hung bridge")
    print(f"hung bridge: clients {len(clients)}, messages checked {checked}")
    await close_all(clients)


async def test_a_reconnect_storm_of_hundreds_of_clients_all_resume_without_gaps(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    first, second = start_pair(broker, tmp_path, bridges)
    urls = [first.ws_url, second.ws_url]
    clients = await open_clients(STORM_CLIENTS, urls, 1, backoff=Backoff(0.2, 3.0))
    # Admission control (50 new connections/s per IP, burst 200) turned some away from the
    # first bridge at the start; they went to the second one. The rest go through the storm.
    stormed = [c for c in clients if c.client.url == first.ws_url]
    assert len(stormed) >= 200
    feeder = await Feeder(broker.url, SYMBOLS, 100).start()
    await asyncio.sleep(1.5)
    first.kill()
    assert await until(lambda: moved(clients, second.ws_url), 30)
    await asyncio.sleep(1.0)
    await feeder.stop()
    checked = await verify(broker_nc, clients, "reconnect storm", timeout=60)
    assert all(c.client.connections == 2 for c in stormed)
    print(
        f"reconnect storm: clients {STORM_CLIENTS} ({len(stormed)} through the storm), "
        f"messages checked {checked}"
    )
    await close_all(clients)
