"""A rolling upgrade of the 3-server NATS cluster, the way the chart's preStop does it: each
server in turn enters lame-duck mode (SIGUSR2), exits, and starts again on its store, while
the simulator publishes and library clients read through a bridge.

Nothing may be lost or doubled (checked against the stream), and the bridge and the adapter
must use the lame-duck notice to move to a peer *before* they are cut: a server whose
clients all left exits right after its grace period instead of evicting them over
``lame_duck_duration`` — so each server's exit time shows whether they moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml
from nats.aio.client import Client as NatsClient

from mdbridge.client import Backoff, MarketDataClient
from tests.support.cluster import PASSWORDS, NatsCluster, Process, process_env
from tests.support.deploy import CHART
from tests.support.processes import BridgeProcess
from tests.support.recorder import RecordingClient, verify
from tests.support.waiting import until

# A real 3-server cluster restarted server by server: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ["600000.SH", "000001.SZ", "600519.SH", "300750.SZ"]
STREAM = "MD_QUOTE"
# The chart's lame-duck duration (nats-server's minimum, 30 s); its grace period (10 s) is
# shortened to keep the test quick: what is shown is that the servers exit after the grace,
# not after the duration, because every client moved on the notice.
LAME_DUCK_S = int(
    yaml.safe_load((CHART / "values.yaml").read_text())["nats"]["lameDuckDurationSeconds"]
)
GRACE_S = 3
LAME_DUCK = f'lame_duck_duration: "{LAME_DUCK_S}s"\nlame_duck_grace_period: "{GRACE_S}s"\n'


def delivered(clients: list[RecordingClient]) -> int:
    return sum(len(rows) for c in clients for rows in c.received.values())


def reached(clients: list[RecordingClient], count: int) -> bool:
    return delivered(clients) >= count


async def listed(bridge: BridgeProcess, symbols: list[str], timeout: float = 30) -> None:
    """Until the bridge's directory has the symbols the simulator writes at its start."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=bridge.http_url, timeout=5) as http:
        for symbol in symbols:
            while (await http.get("/v1/symbols", params={"q": symbol})).json().get("total", 0) < 1:
                assert time.monotonic() < deadline, f"{symbol} never reached the directory"
                await asyncio.sleep(0.25)


async def replicas_current(reader: NatsClient) -> bool:
    """The stream has a leader and both of its other replicas are caught up."""
    with contextlib.suppress(Exception):
        info = await reader.jetstream().stream_info(STREAM)
        cluster = info.cluster
        peers = cluster.replicas if cluster else None
        return bool(cluster and cluster.leader and peers and all(p.current for p in peers))
    return False


@pytest.mark.timeout(300)
async def test_a_rolling_upgrade_in_lame_duck_mode_loses_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = NatsCluster.start(tmp_path / "nats", extra_config=LAME_DUCK)
    reader = await cluster.connect("reader")
    processes: list[Process] = []
    bridge: BridgeProcess | None = None
    clients: list[RecordingClient] = []
    try:
        await cluster.wait_for_jetstream(reader)
        env = process_env(cluster, "adapter", stream_replicas=3, sim_symbols=12, sim_speed=20)
        env["MDBRIDGE_SOURCE_ID"] = "rolling-sim"
        adapter = Process.spawn("adapter", ["adapter", "sim"], env, logs)
        processes.append(adapter)
        deadline = time.monotonic() + 60
        while not await replicas_current(reader):
            assert time.monotonic() < deadline, "the stream never had 3 current replicas"
            await asyncio.sleep(0.25)
        bridge = BridgeProcess(
            cluster.url, logs, "bridge", nats_user="bridge", nats_password=PASSWORDS["bridge"]
        ).start()
        await listed(bridge, SYMBOLS)
        for i in range(2):
            client = RecordingClient(
                MarketDataClient(bridge.ws_url, backoff=Backoff(0.1, 1.0), dedupe=False)
            )
            await client.client.connect()
            await client.subscribe(SYMBOLS[i::2], snapshot=False)
            client.start()
            clients.append(client)
        assert await until(lambda: delivered(clients) >= 20, 30)

        exits: dict[str, float] = {}
        for name, node in cluster.nodes.items():
            assert node.process is not None
            before = delivered(clients)
            started = time.monotonic()
            node.process.send_signal(signal.SIGUSR2)  # lame-duck mode, as the preStop hook
            await asyncio.get_running_loop().run_in_executor(None, node.process.wait, 90)
            exits[name] = time.monotonic() - started
            node.start()  # the upgraded server, on the same store and ports
            deadline = time.monotonic() + 60
            while not await replicas_current(reader):
                assert time.monotonic() < deadline, f"{name} did not catch up after restart"
                await asyncio.sleep(0.25)
            assert await until(functools.partial(reached, clients, before + 20), 30), (
                f"nothing delivered after {name} was upgraded"
            )
        checked = await verify(reader, clients, "after a rolling upgrade")
        assert all(c.client.connected for c in clients)
        assert adapter.process.poll() is None, adapter.tail()
        moved = bridge.log_path.read_text().count("lame-duck mode: moving")
        assert moved >= 1, "the bridge never moved on a lame-duck notice"
        # Every server exited soon after its grace period: its clients had already left.
        assert all(seconds < LAME_DUCK_S for seconds in exits.values()), exits
        print(
            "rolling upgrade: servers exited "
            + ", ".join(f"{n} after {s:.1f}s" for n, s in exits.items())
            + f" (grace {GRACE_S}s, lame duck {LAME_DUCK_S}s); the bridge moved {moved} time(s)"
            f" on a lame-duck notice; {checked} messages checked, 0 gaps, 0 duplicates"
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if bridge is not None:
            bridge.stop()
        for process in processes:
            process.stop()
        with contextlib.suppress(Exception):
            await reader.close()
        cluster.stop()
