"""The Python client library: its API, typed messages, failover and resume, its footprint."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from nats.aio.client import Client as NatsClient

from bridge.recovery.ackmode import consumer_name
from mdbridge.client import (
    Backoff,
    DataMessage,
    ErrorMessage,
    MarketDataClient,
    NotConnectedError,
    RequestError,
    StatusMessage,
)
from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.feeder import Feeder
from tests.support.invariants import stream_truth
from tests.support.market import publish, put_directory
from tests.support.recorder import RecordingClient, by_subject, wait_caught_up
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.waiting import until

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url) as handle:
        yield handle


async def next_data(client: MarketDataClient) -> DataMessage:
    """The next data message (other tests' sources may be reported down meanwhile)."""
    while not isinstance(message := await client.recv(5), DataMessage):
        assert isinstance(message, StatusMessage)
    return message


def test_the_client_imports_without_any_server_dependency() -> None:
    script = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        BLOCKED = {"bridge", "services", "schemas", "nats", "starlette", "uvicorn", "pydantic"}

        class Block(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is not allowed here")
                return None

        sys.meta_path.insert(0, Block())
        from mdbridge.client import MarketDataClient, DataMessage
        MarketDataClient("ws://127.0.0.1:1/ws")
        print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_backoff_is_exponential_with_full_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(7))
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole window
        assert min(delays) < ceiling * 0.2


async def test_requests_and_typed_messages(nc: NatsClient, bridge: BridgeHandle) -> None:
    js = nc.jetstream()
    seq = await publish(js, DataType.QUOTE, "600519.SH", 1500)
    async with MarketDataClient(bridge.ws_url) as client:
        results = await client.subscribe(["600519.SH", "600001.SH"])
        assert [r["status"] for r in results] == ["subscribed", "error"]
        snapshot = await next_data(client)
        assert (snapshot.seq, snapshot.snapshot, snapshot.symbol) == (seq, True, "600519.SH")
        assert snapshot.data.get("last_price") == 1500
        live = await publish(js, DataType.QUOTE, "600519.SH", 1501)
        message = await next_data(client)
        assert (message.seq, message.snapshot, message.type) == (live, False, "market_data")
        state = client.subscriptions["quote:600519.SH:tick"]
        assert state.last_seq == live
        modified = await client.modify("quote:600519.SH:tick", frequency="1s")
        assert modified["subscription_id"] == "quote:600519.SH:1s"
        assert set(client.subscriptions) == {"quote:600519.SH:1s"}
        rows = await client.list_subscriptions()
        assert [r["subscription_id"] for r in rows] == ["quote:600519.SH:1s"]
        assert await client.ping({"n": 1}) == {"n": 1}
        with pytest.raises(RequestError) as caught:
            await client.modify("quote:nothing:tick", frequency="1s")
        assert caught.value.code == "UNKNOWN_SUBSCRIPTION"
        removed = await client.unsubscribe(["quote:600519.SH:1s"])
        assert removed["removed"] == ["quote:600519.SH:1s"]
        assert client.subscriptions == {}


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_on_shutdown_the_client_moves_to_the_next_bridge_and_resumes(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            running_bridge(
                nats_server.url, shutdown_reconnect_min_ms=50, shutdown_reconnect_max_ms=300
            )
        )
        second = await stack.enter_async_context(running_bridge(nats_server.url))
        recorder = RecordingClient(MarketDataClient([first.ws_url, second.ws_url]))
        await recorder.client.connect()
        await recorder.subscribe(["600000.SH", "000001.SZ"], snapshot=False)
        recorder.start()
        feeder = await Feeder(nats_server.url, ["600000.SH", "000001.SZ"], 200).start()
        assert await until(lambda: sum(map(len, recorder.received.values())) >= 50, 10)
        first.server.should_exit = True  # the first bridge shuts down gracefully
        assert await until(
            lambda: recorder.client.url == second.ws_url and recorder.client.connected
        )
        assert await until(lambda: sum(map(len, recorder.received.values())) >= 250, 10)
        await feeder.stop()
        truth = by_subject(
            await stream_truth(
                nc.jetstream(), "MD_QUOTE", "md.quote.>", min(recorder.starts.values()) + 1
            )
        )
        assert await wait_caught_up([recorder], truth, 10)
        for report in recorder.check(truth, "failover"):
            assert report.ok, str(report)
            assert report.expected > 50
        assert recorder.events("shutdown")
        recovered = recorder.events("recovered")
        assert len(recovered) == 2
        assert all(s.data["recovered"] for s in recovered)
        assert recorder.client.duplicates == 0
        await recorder.close()


async def test_a_token_is_used_and_a_refused_one_stops_the_client(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as bridge:
        async with MarketDataClient(bridge.ws_url, token=token("carol")) as client:
            results = await client.subscribe("000001.SZ", ack=True, durable="desk")
            # the durable consumer is named from the token's subject (owned by it)
            key = results[0]["subscription_id"]
            assert results[0]["consumer"] == consumer_name("carol", "desk", key)
            await client.unsubscribe([results[0]["subscription_id"]])
        started = time.monotonic()
        refused = MarketDataClient(bridge.ws_url, token="not-a-token")
        with pytest.raises(NotConnectedError, match="UNAUTHORIZED"):
            await refused.connect(timeout=10)
        assert time.monotonic() - started < 5  # no point retrying a token the server refuses
        error = await refused.recv(1)
        assert isinstance(error, ErrorMessage)
        assert error.code == "UNAUTHORIZED"
        await refused.close()
