"""Shared fixtures: a real nats-server with JetStream on a free port, temp store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server for the whole session; tests keep to their own symbols."""
    store = tmp_path_factory.mktemp("nats-store")
    server = NatsServer(store_dir=store, port=free_port(), log_file=store / "nats.log").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of the test's own, for tests that kill it or need empty streams."""
    server = NatsServer(
        store_dir=tmp_path / "store", port=free_port(), log_file=tmp_path / "nats.log"
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


@pytest.fixture
async def fresh_nc(fresh_nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    """A connection to the test's own nats-server, streams provisioned."""
    client = await nats.connect(fresh_nats_server.url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()
