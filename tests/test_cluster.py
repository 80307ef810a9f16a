"""Past one machine, on one machine: a 3-server NATS cluster with R3 streams, the simulator
and two bridge processes. While clients read, the stream's leader server and then the
clients' bridge are killed with SIGKILL; publishing goes on, the clients move to the other
bridge, resume, and what they received is exactly what the stream holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from schemas import DataType, data_subject
from services.provision import StreamPolicy, ensure_streams
from tests.support.cluster import NatsCluster, Process, process_env, snapshot_size, spawn_bridge
from tests.support.resuming import ResumingClient, stream_truth, verdict

STREAM = "MD_QUOTE"
SYMBOLS = ["600000.SH", "000001.SZ", "600519.SH", "300750.SZ"]
CLIENTS = 4
AFTER_EACH_FAULT = 10  # live messages every client must receive after each fault


async def until(
    predicate: Callable[[], bool],
    what: str,
    clients: list[ResumingClient],
    timeout: float = 30.0,
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            state = [(c.name, c.sessions, c.errors[:2]) for c in clients]
            raise AssertionError(f"timed out waiting for {what}: {state}")
        await asyncio.sleep(0.1)


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


def live(clients: list[ResumingClient]) -> list[int]:
    return [sum(len(seqs) for seqs in c.seqs.values()) for c in clients]


async def assert_lossless(reader: NatsClient, clients: list[ResumingClient]) -> int:
    """What every client has received so far is exactly what the stream holds for its
    subscriptions, from its snapshot on: no gap, no duplicate, in order. Returns the count."""
    subjects = [data_subject(DataType.QUOTE, symbol) for symbol in SYMBOLS]
    received = {c.name: {s: list(c.seqs.get(s, [])) for s in subjects} for c in clients}
    first = min(c.snapshots[s][0] for c in clients for s in subjects)
    last = max(seqs[-1] for by_subject in received.values() for seqs in by_subject.values())
    truth = await stream_truth(reader.jetstream(), STREAM, subjects, first, last)
    checked = 0
    for client in clients:
        assert client.errors == [], (client.name, client.errors[:3])
        assert [len(client.snapshots[s]) for s in subjects] == [1] * len(subjects)
        assert all(event["recovered"] for event in client.recovered), client.recovered
        for subject in subjects:
            start = client.snapshots[subject][0]
            result = verdict(subject, start, received[client.name][subject], truth[subject])
            assert result.ok, (client.name, result)
            checked += result.received
    return checked


@pytest.mark.timeout(180)
async def test_clients_lose_nothing_when_the_stream_leader_and_their_bridge_die(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = NatsCluster.start(tmp_path / "nats")
    processes: list[Process] = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
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
        bridges = [spawn_bridge(cluster, f"bridge-{n}", logs) for n in (1, 2)]
        processes += bridges
        await asyncio.gather(*(bridge.wait_ready() for bridge in bridges))

        # Every client starts on bridge 1 and knows bridge 2, as behind a load balancer.
        urls = [bridge.ws_url for bridge in bridges]
        clients = [ResumingClient(f"client-{n}", urls, SYMBOLS) for n in range(CLIENTS)]
        tasks = [asyncio.create_task(client.run(stop)) for client in clients]
        await until(lambda: min(live(clients)) >= AFTER_EACH_FAULT, "clients receiving", clients)

        # Fault 1: the server leading the stream dies; the other two elect a new leader.
        leader = await cluster.stream_leader(reader, STREAM)
        cluster.nodes[leader].kill()
        before = live(clients)
        successor = await new_leader(cluster, reader, leader)
        assert successor in cluster.nodes
        await until(
            lambda: all(
                n >= b + AFTER_EACH_FAULT for n, b in zip(live(clients), before, strict=True)
            ),
            "clients receiving after the stream leader died",
            clients,
        )
        assert await assert_lossless(reader, clients) >= CLIENTS * AFTER_EACH_FAULT * 2

        # Fault 2: the clients' bridge dies; they reconnect to bridge 2 and resume.
        killed_at = (await reader.jetstream().stream_info(STREAM)).state.last_seq
        bridges[0].kill()
        await until(
            lambda: all(
                c.sessions[-1].url == urls[1] and c.sessions[-1].live >= AFTER_EACH_FAULT
                for c in clients
            ),
            "clients resuming on bridge 2",
            clients,
        )
        stop.set()
        await asyncio.gather(*tasks)
        assert adapter.process.poll() is None, adapter.tail()  # it published throughout

        last = max(seqs[-1] for c in clients for seqs in c.seqs.values())
        assert last > killed_at  # messages published after bridge 1 died were delivered
        assert await assert_lossless(reader, clients) >= CLIENTS * AFTER_EACH_FAULT * 3
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
        await until(lambda: all(errors[u] for u in ("bridge", "reader")), "violations", [])
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
