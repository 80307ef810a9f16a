"""A subscriber joining a subject that is being published gets exactly what follows its seq.

Adding a subject replaces the stream's shared consumer; the new consumer's first deliveries
can be parsed before the bridge has read the server's answer to creating it. The position a
new subscription starts from (the ``seq`` of its reply) must be where that consumer started,
not wherever the feed had got to by the time the answer was read.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.invariants import Received, check, stream_truth
from tests.support.market import payload_for, put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

SYMBOLS = [f"{688100 + i}.SH" for i in range(12)]


# Trades: never conflated, so a client that reads only at the end still gets every one.
async def publish_all_the_time(nc: NatsClient, stop: asyncio.Event) -> None:
    bodies = [
        (data_subject(DataType.TRADE, s), orjson.dumps(payload_for(DataType.TRADE, s, 10)))
        for s in SYMBOLS
    ]
    i = 0
    while not stop.is_set():
        subject, body = bodies[i % len(bodies)]
        await nc.publish(subject, body)
        i += 1
        if i % 20 == 0:
            await nc.flush()
            await asyncio.sleep(0.002)


async def test_each_new_subject_starts_exactly_after_the_seq_its_reply_names(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    js = nc.jetstream()
    await put_directory(js, SYMBOLS)
    stop = asyncio.Event()
    async with running_bridge(nats_server.url) as bridge:
        publisher = asyncio.create_task(publish_all_the_time(nc, stop))
        try:
            clients = []
            for symbol in SYMBOLS:  # one new subject at a time: each replaces the consumer
                client = await WsClient.open(bridge.ws_url)
                reply = await client.request(
                    "subscribe", {"symbol": symbol, "data_type": "trade", "snapshot": False}
                )
                start = int(reply["data"]["subscriptions"][0]["seq"])
                clients.append((client, symbol, start))
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await publisher
        await nc.flush()
        await asyncio.sleep(0.5)  # the last published reach every client
        truth = await stream_truth(js, "MD_TRADE", "md.trade.>", 1)
        for client, symbol, start in clients:
            subject = data_subject(DataType.TRADE, symbol)
            received: list[Received] = []
            with contextlib.suppress(TimeoutError):
                while True:
                    frame = await client.data(timeout=0.3)
                    received.append(Received(subject, int(frame["metadata"]["seq"])))
            rows = [(s, seq) for s, seq in truth if s == subject]
            end = rows[-1][1]
            report = check(received, rows, start, end, subject)
            assert report.ok, str(report)
            assert report.received > 0
            await client.close()
