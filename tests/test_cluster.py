"""Past one machine, on one machine: a 3-server NATS cluster with R3 streams, the simulator
and two bridge processes. While library clients read, the stream's leader server and then the
clients' bridge are killed with SIGKILL; publishing goes on, the clients move to the other
bridge, resume, and what they received is exactly what the stream holds."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from mdbridge.client import Backoff, MarketDataClient
from schemas import DataType, data_subject
from services.provision import StreamPolicy, ensure_streams
from tests.support.cluster import PASSWORDS, NatsCluster, Process, process_env, snapshot_size
from tests.support.processes import BridgeProcess
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAM = "MD_QUOTE"
SYMBOLS = ["600000.SH", "000001.SZ", "600519.SH", "300750.SZ"]
CLIENTS = 4
AFTER_EACH_FAULT = 25  # live messages every client must receive after each fault


async def wait_for_replicated_stream(reader: NatsClient) -> None:
    """The adapter provisions the streams with 3 replicas; wait until they carry quotes."""
    js = reader.jetstream()
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(NotFoundError, TimeoutError):
            info = await js.stream_info(STREAM)
            if info.state.messages > 0 and info.cluster and len(info.cluster.replicas or []) == 2:
                assert info.config.num_replicas == 3
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{STREAM} was not provisioned with 3 replicas")


async def new_leader(cluster: NatsCluster, reader: NatsClient, old: str) -> str:
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(Exception):  # no leader yet, or our server was the dead one
            leader = await cluster.stream_leader(reader, STREAM)
            if leader != old:
                return leader
        await asyncio.sleep(0.25)
    raise AssertionError(f"{STREAM} elected no new leader after {old} died")


def live(clients: list[RecordingClient]) -> list[int]:
    return [sum(len(r) for r in c.received.values()) for c in clients]


def grown(clients: list[RecordingClient], before: list[int]) -> bool:
    """Every client received AFTER_EACH_FAULT more messages than ``before``."""
    return all(n >= b + AFTER_EACH_FAULT for n, b in zip(live(clients), before, strict=True))


def moved(clients: list[RecordingClient], url: str) -> bool:
    return all(c.client.url == url and c.client.connected for c in clients)


@pytest.mark.timeout(180)
async def test_clients_lose_nothing_when_the_stream_leader_and_their_bridge_die(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = NatsCluster.start(tmp_path / "nats")
    processes: list[Process] = []
    bridges: list[BridgeProcess] = []
    clients: list[RecordingClient] = []
    reader = await cluster.connect("reader")
    try:
        await cluster.wait_for_jetstream(reader)
        adapter_env = process_env(
            cluster, "adapter", stream_replicas=3, sim_symbols=12, sim_speed=20
        )
        adapter_env["MDBRIDGE_SOURCE_ID"] = "cluster-sim"
        adapter = Process.spawn("adapter", ["adapter", "sim"], adapter_env, logs)
        processes.append(adapter)
        await wait_for_replicated_stream(reader)
        credentials = {"nats_user": "bridge", "nats_password": PASSWORDS["bridge"]}
        for name in ("bridge-1", "bridge-2"):
            bridges.append(BridgeProcess(cluster.url, logs, name, **credentials).start())

        # Library clients start on bridge 1 and know bridge 2, as behind a load balancer.
        urls = [bridge.ws_url for bridge in bridges]
        for _ in range(CLIENTS):
            # dedupe off: the checker must see whatever the bridges sent, duplicates included
            client = RecordingClient(
                MarketDataClient(urls, dedupe=False, backoff=Backoff(0.1, 1.0))
            )
            await client.client.connect()
            # no snapshot: the checker compares live deliveries after the subscription's start
            await client.subscribe(SYMBOLS, snapshot=False)
            client.start()
            clients.append(client)
        assert all(c.client.url == urls[0] for c in clients)
        assert await until(lambda: min(live(clients)) >= AFTER_EACH_FAULT, 30)

        # Fault 1: the server leading the stream dies; the other two elect a new leader.
        leader = await cluster.stream_leader(reader, STREAM)
        cluster.nodes[leader].kill()
        before = live(clients)
        assert await new_leader(cluster, reader, leader) in cluster.nodes
        assert await until(lambda: grown(clients, before), 30), "nothing after the leader died"
        after_leader = await verify(reader, clients, "after the stream leader died")
        assert all(s.data["recovered"] for c in clients for s in c.events("recovered"))

        # Fault 2: the clients' bridge dies; they reconnect to bridge 2 and resume.
        killed_at = (await reader.jetstream().stream_info(STREAM)).state.last_seq
        before = live(clients)
        bridges[0].kill()
        assert await until(lambda: moved(clients, urls[1]), 30), "clients did not move"
        assert await until(lambda: grown(clients, before), 30), "nothing after bridge 1 died"
        checked = await verify(reader, clients, "after bridge 1 died")
        recovered = [s.data["recovered"] for c in clients for s in c.events("recovered")]
        assert len(recovered) >= CLIENTS  # every client resumed, from JetStream
        assert all(recovered)
        assert adapter.process.poll() is None, adapter.tail()  # it published throughout
        last = max(r[-1].seq for c in clients for r in c.received.values())
        assert last > killed_at  # what was published after bridge 1 died was delivered
        assert checked > after_leader >= CLIENTS * AFTER_EACH_FAULT * 2
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for bridge in bridges:
            bridge.stop()
        for process in processes:
            process.stop()
        with contextlib.suppress(Exception):
            await reader.close()
        cluster.stop()


async def test_the_charts_nats_users_have_least_privilege(tmp_path: Path) -> None:
    """The chart's least-privilege users on a real cluster: readers and bridges cannot publish
    market data (tests/test_nats_permissions.py shows the rest on one server), and only admin
    can take the backup snapshot the runbook describes."""
    cluster = NatsCluster.start(tmp_path / "nats")
    errors: dict[str, list[str]] = {user: [] for user in ("adapter", "bridge", "reader", "admin")}
    clients = {user: await cluster.connect(user, errors[user]) for user in errors}
    try:
        await cluster.wait_for_jetstream(clients["admin"])
        await ensure_streams(clients["admin"].jetstream(), StreamPolicy(replicas=3))
        subject = data_subject(DataType.QUOTE, "600000.SH")
        ack = await clients["adapter"].jetstream().publish(subject, b"{}")
        for user in ("bridge", "reader"):
            await clients[user].publish(subject, b"{}")
            await clients[user].flush()
        assert await until(lambda: all(errors[u] for u in ("bridge", "reader")), 10)
        for user in ("bridge", "reader"):
            assert "permissions violation for publish" in errors[user][0].lower()
        info = await clients["reader"].jetstream().stream_info(STREAM)
        assert info.state.last_seq == ack.seq  # nothing but the adapter's message got in
        assert info.config.num_replicas == 3

        assert await snapshot_size(clients["admin"], STREAM) > 0
        with pytest.raises(TimeoutError):  # the reader's request is dropped by the server
            await snapshot_size(clients["reader"], STREAM, timeout=2)
        assert any("$js.api.stream.snapshot" in e.lower() for e in errors["reader"])
        assert errors["adapter"] == errors["admin"] == []
    finally:
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        cluster.stop()
