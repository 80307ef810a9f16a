"""Fault tests: a nats-server of their own (they kill it), bridges as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from services.provision import ensure_streams
from tests.support.market import put_directory
from tests.support.processes import BridgeProcess

SYMBOLS = [f"{600000 + i:06d}.SH" for i in range(8)] + [f"{1 + i:06d}.SZ" for i in range(4)]


async def _quiet(exc: Exception) -> None:
    """The broker is killed on purpose here."""


@pytest.fixture
def broker(fresh_nats_server: NatsServer) -> NatsServer:
    """The test's own nats-server: fault tests kill it and start it again."""
    return fresh_nats_server


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


def start_pair(
    broker: NatsServer, tmp_path: Path, bridges: list[BridgeProcess], **first: Any
) -> tuple[BridgeProcess, BridgeProcess]:
    """Two bridges on the broker: ``a`` (with ``first`` settings), the one to fail, and ``b``."""
    pair = (
        BridgeProcess(broker.url, tmp_path, "a", **first).start(),
        BridgeProcess(broker.url, tmp_path, "b").start(),
    )
    bridges += pair
    return pair
