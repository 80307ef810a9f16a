"""One stalled client beside fast ones: the fast ones do not wait, the stalled one is handled."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.client import DataMessage, MarketDataClient
from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.faults.conftest import SYMBOLS
from tests.support.feeder import Feeder
from tests.support.invariants import Received, check, stream_truth
from tests.support.market import payload_for, put_directory
from tests.support.processes import BridgeProcess
from tests.support.recorder import by_subject
from tests.support.slowreader import SlowReader

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAST = 5
BURST = "688001.SH"  # only the stalled quote reader takes it
# Socket buffers alone take up to ~4 MB (tcp_wmem) before a send blocks and the queue fills,
# so the bursts are big in bytes (padded payloads) but light in messages for the bridge.
BURST_SIZE = 2000
PADDING = "x" * 4000  # ~8 MB per burst
QUEUE_BYTES = 512 * 1024  # seconds of lag at the feeder's rate: no fast client is conflated


async def test_a_stalled_client_does_not_delay_the_fast_ones(  # noqa: C901 (one flow, top to bottom: see pyproject)
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    bridge = BridgeProcess(broker.url, tmp_path, queue_max_bytes=QUEUE_BYTES).start()
    bridges.append(bridge)
    await put_directory(broker_nc.jetstream(), [BURST])
    stalled_quotes = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
    await stalled_quotes.send("subscribe", {"symbols": [*SYMBOLS, BURST], "snapshot": False}, "q")
    stalled_trades = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
    await stalled_trades.send(
        "subscribe", {"symbol": SYMBOLS[0], "data_type": "trade", "snapshot": False}, "t"
    )
    latencies: list[float] = []
    received: dict[int, list[Received]] = {i: [] for i in range(FAST)}
    starts: dict[int, int] = {}
    fast = []
    for i in range(FAST):
        client = MarketDataClient(bridge.ws_url, dedupe=False)
        await client.connect()
        results = await client.subscribe(SYMBOLS, snapshot=False)
        starts[i] = min(int(r["seq"]) for r in results)
        fast.append(client)

    async def consume(i: int, client: MarketDataClient) -> None:
        async for message in client:
            if isinstance(message, DataMessage):
                latencies.append(time.time() * 1000 - message.broker_ms)
                received[i].append(Received(message.subject, message.seq, message.snapshot))

    readers = [asyncio.create_task(consume(i, c)) for i, c in enumerate(fast)]
    feeder = await Feeder(broker.url, SYMBOLS, 150).start()
    await asyncio.sleep(0.5)

    async def burst(data_type: DataType, symbol: str) -> None:
        subject = data_subject(data_type, symbol)
        body = orjson.dumps(payload_for(data_type, symbol, 10) | {"padding": PADDING})
        for i in range(BURST_SIZE):
            await broker_nc.publish(subject, body)
            if i % 100 == 99:  # ~2,000/s each, in steps
                await broker_nc.flush()
                await asyncio.sleep(0.05)

    await asyncio.gather(burst(DataType.QUOTE, BURST), burst(DataType.TRADE, SYMBOLS[0]))
    await asyncio.sleep(2.0)
    published = await feeder.stop()

    # The fast clients got everything, promptly.
    start = min(starts.values()) + 1
    truth = by_subject(await stream_truth(broker_nc.jetstream(), "MD_QUOTE", "md.quote.>", start))
    wanted = {data_subject(DataType.QUOTE, s) for s in SYMBOLS}
    rows = sorted((seq, subject) for subject, items in truth.items() for _, seq in items
                  if subject in wanted)  # fmt: skip
    end = rows[-1][0]
    for _ in range(300):
        if all(r and r[-1].seq >= end for r in received.values()):
            break
        await asyncio.sleep(0.1)
    everything = [(subject, seq) for seq, subject in rows]
    for i in range(FAST):
        report = check(received[i], everything, starts[i], end, f"fast client {i}")
        assert report.ok, str(report)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    # Sanity bounds for a shared 2-core machine (p50 is a few ms when it is quiet): a stalled
    # reader that held up the fan-out would stop the fast clients for seconds.
    assert p50 < 100, f"fast clients' latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    assert p99 < 1500, f"fast clients' latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"

    # The stalled quote reader was conflated, and told so; the trade reader was cut off.
    frames = []
    while (frame := await stalled_quotes.recv(timeout=15)) is not None:
        frames.append(frame)
        if frame["type"] == "status" and frame["data"]["event"] == "slow_consumer":
            break
    notice = frames[-1]
    assert notice["data"]["event"] == "slow_consumer"
    assert notice["data"]["action"] == "conflated"
    assert sum(notice["data"]["conflated"].values()) > 0
    trades = await stalled_trades.drain(timeout=10)
    assert sum(1 for f in trades if f["type"] == "trade_data") < BURST_SIZE
    assert stalled_trades.close_code in (None, 1006, 4009)  # closed: by 4009, or cut off
    print(
        f"stalled beside fast: {FAST} fast clients, {published} messages, "
        f"latency p50 {p50:.1f} ms p99 {p99:.1f} ms"
    )
    for client in fast:
        await client.close()
    for reader in readers:
        reader.cancel()
    stalled_quotes.close()
    stalled_trades.close()
