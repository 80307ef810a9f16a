"""From the adapter to the socket: adapter metrics, trace headers and ``mdbridge trace``.

The simulator adapter runs for real (run_adapter) and publishes with a traceparent and hop
times in its headers; the bridge runs under uvicorn; ``mdbridge trace`` runs as its own
process, a WebSocket client of the bridge that also reads the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from mdbridge.natsserver import NatsServer, free_port
from schemas.headers import PUB_MS, RECV_MS, TRACEPARENT
from services.publisher import new_traceparent
from services.runner import run_adapter
from services.settings import AdapterSettings
from tests.support.scrape import Samples, scrape, value
from tests.support.servers import BridgeHandle, running_bridge

SYMBOL = "600000.SH"
HOP_ORDER = ["adapter_recv", "publish", "broker", "bridge_recv", "socket_write", "client_recv"]
CLOCK_SLACK_MS = 2.0  # hops are rounded to the ms in places (the broker time, the source time)


@pytest.fixture
async def adapter(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[AdapterSettings]:
    settings = AdapterSettings(
        nats_url=nats_server.url,
        source_id="trace-sim",
        sim_symbols=20,
        sim_interval_s=0.3,  # a quote per symbol every 0.3 s, on the wall clock (speed 1)
        status_interval_s=0.5,
        metrics_port=free_port(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter("sim", settings, stop))
    yield settings
    stop.set()
    await asyncio.wait_for(task, timeout=15)


@pytest.fixture
async def bridge(adapter: AdapterSettings, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    async with running_bridge(nats_server.url) as handle:
        for _ in range(300):  # the adapter writes the symbol directory as it starts
            if SYMBOL in handle.runtime.directory:
                break
            await asyncio.sleep(0.05)
        assert SYMBOL in handle.runtime.directory
        yield handle


async def _adapter_samples(port: int) -> Samples:
    for _ in range(300):
        with contextlib.suppress(httpx.ConnectError):  # it starts once NATS is connected
            samples = await scrape(f"http://127.0.0.1:{port}")
            # an ack of a duplicate (the sim repeats a Msg-Id across tests) times a publish
            # without counting it as published: wait for both
            latency = value(samples, "mdbridge_adapter_publish_latency_milliseconds_count")
            if latency > 0 and value(samples, "mdbridge_adapter_published_total") > 0:
                return samples
        await asyncio.sleep(0.1)
    raise AssertionError("the adapter never observed a publish latency")


async def _trace(bridge: BridgeHandle, nats_url: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mdbridge",
        "trace",
        SYMBOL,
        "--url",
        bridge.http_url,
        "--nats-url",
        nats_url,
        "--timeout",
        "30",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_adapter_serves_its_own_metrics(adapter: AdapterSettings) -> None:
    assert adapter.metrics_port is not None
    samples = await _adapter_samples(adapter.metrics_port)
    assert value(samples, "mdbridge_adapter_published_total") > 0
    assert value(samples, "mdbridge_adapter_failed_total") == 0
    assert value(samples, "mdbridge_adapter_source_lag_milliseconds_count") > 0
    lag = value(samples, "mdbridge_adapter_source_lag_last_milliseconds")
    assert 0 <= lag < 5_000  # sim time is wall time at speed 1
    assert "mdbridge_adapter_in_flight" in {name for name, _ in samples}


async def test_published_messages_carry_a_traceparent_and_hop_times(
    adapter: AdapterSettings, nc: NatsClient
) -> None:
    js = nc.jetstream()
    for _ in range(300):
        try:
            raw = await js.get_last_msg("MD_QUOTE", f"md.quote.{SYMBOL}")
            break
        except NotFoundError:  # not published yet
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the adapter published no quote")
    headers = raw.headers or {}
    version, trace_id, parent_id, flags = headers[TRACEPARENT].split("-")
    assert (version, len(trace_id), len(parent_id), flags) == ("00", 32, 16, "00")
    assert float(headers[RECV_MS]) <= float(headers[PUB_MS])
    assert new_traceparent() != new_traceparent()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_mdbridge_trace_prints_every_hop_in_order(
    bridge: BridgeHandle, nats_server: NatsServer
) -> None:
    out = await _trace(bridge, nats_server.url, "--count", "3", "--json")
    rows = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(rows) == 3
    seqs = [row["seq"] for row in rows]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    for row in rows:
        hops = row["hops"]
        assert all(hops[hop] is not None for hop in ["source", *HOP_ORDER]), hops
        for earlier, later in itertools.pairwise(HOP_ORDER):
            assert hops[earlier] <= hops[later] + CLOCK_SLACK_MS, (earlier, later, hops)
        assert hops["source"] <= hops["adapter_recv"] + CLOCK_SLACK_MS
        assert hops["client_recv"] - hops["adapter_recv"] < 5_000  # one machine, sane bound
        # the adapter's traceparent went through NATS into the bridge
        assert row["traceparent"] == row["nats_traceparent"]
        assert row["subject"] == f"md.quote.{SYMBOL}"

    table = await _trace(bridge, nats_server.url, "--count", "1")
    for hop in ["source", *HOP_ORDER]:
        assert hop in table
    assert "median step" in table
