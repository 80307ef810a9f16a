"""Adapters reconnect to a failed source after 1 s, 2 s, 4 s, and say so on md.status."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from processkit.backoff import Backoff
from services.adapter import SourceStatus
from services.errors import SourceError
from services.publisher import Publisher
from services.runner import SOURCE_BACKOFF, SOURCE_RETRIES, run_source
from services.status import StatusReporter


class FlakySource:
    """A stand-in data source that drops its connection twice, then keeps working."""

    source_id = "flaky"

    def __init__(self, failures: int) -> None:
        self.ready = asyncio.Event()
        self.failures = failures
        self.attempts: list[float] = []

    def status(self) -> SourceStatus:
        return {"phase": "continuous", "symbols": 1}

    async def run(self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event) -> None:
        self.attempts.append(time.monotonic())
        if len(self.attempts) <= self.failures:
            raise SourceError(f"source connection lost ({len(self.attempts)})")
        self.ready.set()
        await stop.wait()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_a_failed_source_is_retried_after_1_then_2_seconds(nc: NatsClient) -> None:
    js = nc.jetstream()
    events: list[dict[str, object]] = []

    async def collect(msg: Msg) -> None:
        events.append(orjson.loads(msg.data))

    watcher = await nc.subscribe("md.status.flaky", cb=collect)
    source = FlakySource(failures=2)
    publisher = Publisher(js)
    status = StatusReporter(js, publisher, source, interval_s=0.2)
    stop = asyncio.Event()
    reporting = asyncio.create_task(status.run(stop))
    running = asyncio.create_task(run_source(source, js, publisher, stop, status, "flaky"))
    for _ in range(100):
        if source.ready.is_set() and any(e["event"] == "up" for e in events[2:]):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(running, reporting)
    await watcher.unsubscribe()
    assert [SOURCE_BACKOFF.delay(n) for n in range(SOURCE_RETRIES)] == [1.0, 2.0, 4.0]
    gaps = [b - a for a, b in zip(source.attempts, source.attempts[1:], strict=False)]
    assert len(gaps) == 2
    assert 0.9 < gaps[0] < 3.0  # generous: CI machines are busy
    assert 1.9 < gaps[1] < 4.5
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["down", "down"]  # never up before data flowed
    assert events[0]["reason"] == "source connection lost (1)"
    assert "up" in kinds
    after_up = kinds[kinds.index("up") + 1 :]
    assert "down" not in after_up  # once back, heartbeats again


async def test_a_source_that_fails_every_retry_ends_the_adapter(nc: NatsClient) -> None:
    js = nc.jetstream()
    source = FlakySource(failures=10)
    publisher = Publisher(js)
    status = StatusReporter(js, publisher, source, interval_s=0.2)
    stop = asyncio.Event()
    fast = Backoff(base_s=0.01, cap_s=0.04, jitter=False)
    with pytest.raises(SourceError, match=r"lost \(4\)"):  # the first try and three retries
        await run_source(source, js, publisher, stop, status, "flaky", fast)
    assert len(source.attempts) == 4
