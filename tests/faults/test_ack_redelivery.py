"""Ack mode through a bridge crash: what was not acked comes back, nothing is skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.client import Backoff, DataMessage, MarketDataClient
from mdbridge.natsserver import NatsServer
from tests.faults.conftest import start_pair
from tests.support.feeder import Feeder
from tests.support.invariants import stream_truth
from tests.support.processes import BridgeProcess

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ["600000.SH", "600001.SH"]
ACK_EVERY = 10


async def test_unacked_messages_are_redelivered_after_a_bridge_crash(
    broker: NatsServer, broker_nc: NatsClient, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    first, second = start_pair(broker, tmp_path, bridges, ack_wait_s=1.5)
    client = MarketDataClient([first.ws_url, second.ws_url], backoff=Backoff(0.1, 1.0))
    await client.connect()
    results = await client.subscribe(SYMBOLS, ack=True, durable="orders", snapshot=False)
    assert [r["status"] for r in results] == ["subscribed", "subscribed"]
    received: list[tuple[float, DataMessage]] = []
    acked_at: dict[int, float] = {}
    unacked: dict[str, list[int]] = {}
    loop = asyncio.get_running_loop()

    async def consume() -> None:
        # Per subscription, ack every tenth message (cumulative over what was delivered).
        async for message in client:
            if not isinstance(message, DataMessage):
                continue
            received.append((loop.time(), message))
            pending = unacked.setdefault(message.subscription_id, [])
            pending.append(message.seq)
            if len(pending) >= ACK_EVERY:
                await client.ack(message)
                now = loop.time()
                acked_at.update((seq, now) for seq in pending if seq <= message.seq)
                unacked[message.subscription_id] = [seq for seq in pending if seq > message.seq]

    consumer = asyncio.create_task(consume())
    feeder = await Feeder(broker.url, SYMBOLS, 100).start()
    await asyncio.sleep(1.5)
    first.kill()
    killed_at = loop.time()
    in_flight = {seq for seqs in unacked.values() for seq in seqs}
    assert in_flight  # the crash leaves unacked messages behind
    for _ in range(100):
        if client.url == second.ws_url and client.connected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    await feeder.stop()
    first_seq = min(m.seq for _, m in received)
    truth = [seq for _, seq in await stream_truth(broker_nc.jetstream(), "MD_QUOTE", "md.quote.>")]
    expected = {seq for seq in truth if seq >= first_seq}

    def redelivered() -> set[int]:
        return {m.seq for _, m in received if (m.delivered or 1) > 1}

    for _ in range(100):  # the broker redelivers after ack_wait (1.5 s here)
        if expected <= {m.seq for _, m in received} and in_flight <= redelivered():
            break
        await asyncio.sleep(0.1)
    assert expected - {m.seq for _, m in received} == set(), "gaps in ack mode"
    assert in_flight <= redelivered(), "unacked messages did not come back"
    # Acks sent well before the crash reached the broker: those never come back. (The last
    # ones may have died with the bridge; at-least-once allows their redelivery.)
    settled = {seq for seq, at in acked_at.items() if at < killed_at - 0.5}
    again = {m.seq for at, m in received if m.seq in settled and at > acked_at[m.seq] + 0.05}
    assert again == set(), "an acked message was delivered again"
    print(
        f"ack mode: messages checked {len(expected)}, unacked at the crash {len(in_flight)}, "
        f"redelivered {len(redelivered())}"
    )
    consumer.cancel()
    await client.close()
