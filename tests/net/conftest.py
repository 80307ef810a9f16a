"""Network-fault tests: every host in its own namespace, links that go silent or slow."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from services.provision import ensure_streams
from tests.support.market import put_directory
from tests.support.netns import Network

SYMBOLS = [f"{600000 + i:06d}.SH" for i in range(6)]
Build = Callable[[list[str]], Network]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Build]:
    """``network(["nats", "bridge"])``: the hosts, torn down after the test however it ends."""
    built: list[Network] = []

    def build(hosts: list[str]) -> Network:
        net = Network(hosts, tmp_path)
        built.append(net)
        net.start()
        return net

    yield build
    for net in built:
        net.close()


async def _quiet(exc: Exception) -> None:
    """Links are cut on purpose here."""


@contextlib.asynccontextmanager
async def market(url: str) -> AsyncIterator[NatsClient]:
    """A connection to NATS with the streams and the test symbols' directory in place."""
    client = await nats.connect(
        url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=_quiet
    )
    try:
        await ensure_streams(client.jetstream())
        await put_directory(client.jetstream(), SYMBOLS)
        yield client
    finally:
        await client.close()
