"""Failover: a primary and a backup xtquant adapter on the same market, both publishing.

Each runs in its own process on its own stand-in terminal; the stand-ins generate the same
ticks for the same instants (as two terminals on one exchange feed do), so both adapters
publish the same ``Nats-Msg-Id`` and the broker keeps the first copy. The primary is killed
with SIGKILL mid-stream; a client of the bridge must see continuous data, each stream
sequence once and each (symbol, timestamp) once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import nats
import pytest

from mdbridge.natsserver import NatsServer
from tests.support.adapters import eventually, last_payload
from tests.support.processes import logged_process
from tests.support.servers import running_bridge
from tests.support.wsclient import Frame, WsClient
from tests.support.xtfake import subprocess_env

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ("600000.SH", "000001.SZ")
GRID_MS = 200  # the stand-ins' tick interval


@contextmanager
def adapter_process(url: str, source: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "mdbridge", "--log-level", "WARNING", "adapter", "xtquant",
        "--source-id", source, "--nats-url", url, "--symbols", ",".join(SYMBOLS),
        "--calendar", "always_open", "--klines", "derive",
    ]  # fmt: skip
    env = subprocess_env(FAKE_XTQUANT_AUTO_MS=str(GRID_MS), MDBRIDGE_STATUS_INTERVAL_S="0.3")
    with logged_process(command, env, log) as process:
        yield process


async def subscribe_when_listed(ws: WsClient) -> None:
    """Subscribe once the adapters have written the symbols into the directory."""
    deadline = time.monotonic() + 30
    while True:
        reply = await ws.request("subscribe", {"symbols": list(SYMBOLS), "data_type": "quote"})
        if all(s["status"] == "subscribed" for s in reply["data"]["subscriptions"]):
            return
        assert time.monotonic() < deadline, reply
        for s in reply["data"]["subscriptions"]:
            if s["status"] == "subscribed":
                await ws.request("unsubscribe", {"subscription_ids": [s["subscription_id"]]})
        await asyncio.sleep(0.2)


async def collect(ws: WsClient, seconds: float, into: list[Frame]) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            frame = await ws.next(remaining)
        except TimeoutError:
            return
        if frame["type"] == "market_data":
            into.append(frame)


def ms(frame: Frame) -> int:
    return round(datetime.fromisoformat(frame["data"]["timestamp"]).timestamp() * 1000)


async def test_killing_the_primary_loses_nothing_and_duplicates_nothing(
    fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    url = fresh_nats_server.url
    nc = await nats.connect(url)
    js = nc.jetstream()
    with (
        adapter_process(url, "xt-a", tmp_path / "primary.log") as primary,
        adapter_process(url, "xt-b", tmp_path / "backup.log"),
    ):
        # both publishing: each has a heartbeat out, and the broker dropped someone's copies
        async def both_up() -> bool:
            beats = [
                await last_payload(js, "MD_STATUS", f"md.status.{s}") for s in ("xt-a", "xt-b")
            ]
            return all(b is not None and b["event"] in {"up", "heartbeat"} for b in beats) and (
                sum(b["duplicates"] for b in beats if b) > 0
            )

        await eventually(both_up, timeout=40, interval=0.1)
        async with running_bridge(url) as bridge:
            ws = await WsClient.open(bridge.ws_url)
            await subscribe_when_listed(ws)
            frames: list[Frame] = []
            await collect(ws, 1.5, frames)
            os.kill(primary.pid, signal.SIGKILL)
            killed_at = time.time()
            await collect(ws, 4.0, frames)
            await ws.close()
    await nc.close()

    before = [f for f in frames if f["_received"] < killed_at]
    after = [f for f in frames if f["_received"] > killed_at + 0.5]  # past what was in flight
    assert before, "no data before the kill"
    assert len(after) >= 10, "the backup did not carry on"
    assert {f["data"]["source"] for f in after} == {"xt-b"}
    # no duplicate: each stream sequence once, in order; each (symbol, timestamp) once
    seqs = [f["metadata"]["seq"] for f in frames]
    assert seqs == sorted(set(seqs))
    keys = [(f["data"]["symbol"], ms(f)) for f in frames]
    assert len(keys) == len(set(keys))
    # continuous: per symbol, no hole longer than the switch-over budget, in data or in arrival;
    # live data only: a symbol's snapshot may be the resting quote the adapter published at
    # start (the previous close) when it had not ticked yet
    for symbol in SYMBOLS:
        mine = [
            f for f in frames if f["data"]["symbol"] == symbol and not f["metadata"].get("snapshot")
        ]
        stamps = [ms(f) for f in mine]
        arrivals = [f["_received"] for f in mine]
        assert stamps == sorted(stamps)
        assert max(b - a for a, b in itertools.pairwise(stamps)) < 5000
        assert max(b - a for a, b in itertools.pairwise(arrivals)) < 5.0
        assert all(s % GRID_MS == 0 for s in stamps)
    print_gap(frames, killed_at)


def print_gap(frames: list[Frame], killed_at: float) -> None:
    """The longest silence a client saw around the kill (shown with -s; for the report)."""
    arrivals = sorted(f["_received"] for f in frames)
    around = [b - a for a, b in itertools.pairwise(arrivals) if b > killed_at - 1]
    first = Counter(f["data"]["source"] for f in frames if f["_received"] < killed_at)
    print(
        f"\nfailover: longest gap between quotes around the kill: {max(around) * 1000:.0f} ms;"
        f" first copies before the kill by source: {dict(first)}"
    )
