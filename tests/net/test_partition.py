"""A NATS server cut off from its two peers while its own clients stay connected to it.

The three servers run R3 streams. The bridge's server (and, by the adapter's choice, maybe
the adapter's) loses its routes: the other two keep a majority, elect leaders and keep the
stream writable, while the cut-off server still answers its clients' pings, so nothing tells
them to leave. The bridge and the adapter must notice that JetStream no longer answers
through it, move to a server of the majority, and the clients must then get exactly what the
stream holds: nothing lost or doubled across the partition and after it heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sys
import time
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.client import Backoff, MarketDataClient
from tests.net.conftest import SYMBOLS, Build
from tests.net.hosts import NATS_PORT, nats_url, start_bridge, start_nats, ws_url
from tests.support.market import put_directory
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# Real processes on test hosts in namespaces: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODES = ["n1", "n2", "n3"]
ROUTE_PORT = 6222
STREAM = "MD_QUOTE"


def delivered(clients: list[RecordingClient]) -> int:
    return sum(len(rows) for c in clients for rows in c.received.values())


def reached(clients: list[RecordingClient], count: int) -> bool:
    return delivered(clients) >= count


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def connected_node(log: Path, addresses: dict[str, str]) -> str | None:
    """The server a process said it connected to last (its log's NATS URLs)."""
    found = re.findall(rf"(198\.18\.0\.\d+):{NATS_PORT}", log.read_text(errors="replace"))
    by_address = {address: name for name, address in addresses.items()}
    return by_address.get(found[-1]) if found else None


async def jetstream_answers(reader: NatsClient, timeout: float = 60) -> None:
    """Until the cluster has a meta leader that answers through ``reader``'s server."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await reader.jetstream(timeout=2).account_info()
            return
        except Exception:
            assert time.monotonic() < deadline, "JetStream did not answer"
            await asyncio.sleep(0.25)


@pytest.mark.timeout(300)
async def test_an_isolated_nats_server_loses_its_clients_to_the_majority(
    network: Build, tmp_path: Path
) -> None:
    net = network([*NODES, "adapter", "bridge"])
    routes = ", ".join(f"nats://{net.addresses[n]}:{ROUTE_PORT}" for n in NODES)
    for node in NODES:
        cluster = (
            f"server_name: {node}\n"
            f"cluster {{\n  name: mdbridge\n  listen: {net.addresses[node]}:{ROUTE_PORT}\n"
            f"  routes: [{routes}]\n}}\n"
        )
        start_nats(net, node, tmp_path, cluster)
    url = nats_url(net, *NODES)
    reader = await nats.connect(url.split(","), max_reconnect_attempts=-1)
    clients: list[RecordingClient] = []
    try:
        await jetstream_answers(reader)
        env = {
            **os.environ,
            "MDBRIDGE_NATS_URL": url,
            "MDBRIDGE_STREAM_REPLICAS": "3",
            "MDBRIDGE_SIM_SYMBOLS": "12",
            "MDBRIDGE_SIM_SPEED": "20",
            "MDBRIDGE_SOURCE_ID": "partition-sim",
        }
        adapter_log = tmp_path / "adapter.log"
        with adapter_log.open("ab") as log:
            adapter = net.popen(
                "adapter", [sys.executable, "-m", "mdbridge", "adapter", "sim"], log, env
            )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(Exception):
                info = await reader.jetstream().stream_info(STREAM)
                if info.state.messages and info.config.num_replicas == 3:
                    break
            assert time.monotonic() < deadline, "the adapter did not provision R3 streams"
            await asyncio.sleep(0.25)
        await put_directory(reader.jetstream(), SYMBOLS)
        bridge = start_bridge(net, "bridge", tmp_path, url)
        for i in range(2):
            client = RecordingClient(
                MarketDataClient(ws_url(bridge), backoff=Backoff(0.1, 1.0), dedupe=False)
            )
            await client.client.connect()
            await client.subscribe(SYMBOLS[i::2], snapshot=False)
            client.start()
            clients.append(client)
        assert await until(lambda: delivered(clients) >= 20, 30)

        async def partition(who: str, log: Path) -> str:
            """Isolate the server ``who`` is on; it must move and delivery go on; heal."""
            isolated = connected_node(log, net.addresses)
            assert isolated in NODES, tail(log)
            peers = [n for n in NODES if n != isolated]
            before = delivered(clients)
            cut_at = time.monotonic()
            net.isolate(isolated, peers)  # routes cut; every client keeps its own link
            moved = await until(lambda: connected_node(log, net.addresses) in peers, 60, 0.25)
            moved_s = time.monotonic() - cut_at
            assert moved, f"the {who} stayed on the isolated {isolated}:\n{tail(log)}"
            assert await until(functools.partial(reached, clients, before + 40), 60), (
                f"nothing delivered while {isolated} ({who}'s server) was cut off"
            )
            flowing_s = time.monotonic() - cut_at
            net.rejoin(isolated, peers)
            settled = delivered(clients)
            assert await until(functools.partial(reached, clients, settled + 40), 60)
            return (
                f"{isolated} isolated with the {who} on it: the {who} moved after {moved_s:.1f}s,"
                f" clients received again after {flowing_s:.1f}s"
            )

        reports = [await partition("bridge", bridge.log_path)]
        reports.append(await partition("adapter", adapter_log))
        await jetstream_answers(reader)  # elections after the heal settle first
        checked = await verify(reader, clients, "across isolated NATS servers", timeout=60)
        assert adapter.poll() is None, tail(adapter_log)
        assert all(c.client.connected for c in clients)
        print("; ".join(reports) + f"; {checked} messages checked, 0 gaps, 0 duplicates")
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        with contextlib.suppress(Exception):
            await reader.close()
