"""Fault tests: a nats-server of their own (they kill it), bridges as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams
from tests.support.market import put_directory
from tests.support.processes import BridgeProcess

SYMBOLS = [f"{600000 + i:06d}.SH" for i in range(8)] + [f"{1 + i:06d}.SZ" for i in range(4)]


async def _quiet(exc: Exception) -> None:
    """The broker is killed on purpose here."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(
        store_dir=tmp_path / "store", port=free_port(), log_file=tmp_path / "nats.log"
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def broker_nc(broker: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(
        broker.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=_quiet
    )
    await ensure_streams(client.jetstream())
    await put_directory(client.jetstream(), SYMBOLS)
    yield client
    await client.close()


@pytest.fixture
def bridges(broker: NatsServer, tmp_path: Path) -> Iterator[list[BridgeProcess]]:
    """Start bridges with ``bridges.append(BridgeProcess(...).start())``; all stopped after."""
    started: list[BridgeProcess] = []
    yield started
    for bridge in started:
        bridge.stop()
