"""A resume to a client that stops reading: the bridge queues at most a quarter of the
connection's bound plus one pull, never the whole history, and the rest follows, complete
and in order, once the client reads again."""

from __future__ import annotations

import asyncio

import orjson
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.market import payload_for, put_directory
from tests.support.servers import running_bridge
from tests.support.slowreader import SlowReader

SYMBOL = "600000.SH"
TOTAL = 30_000


async def test_a_resume_is_paced_by_the_reader(
    fresh_nats_server: NatsServer, fresh_nc: NatsClient
) -> None:
    js = fresh_nc.jetstream()
    await put_directory(js, [SYMBOL])
    subject = data_subject(DataType.QUOTE, SYMBOL)
    body = orjson.dumps(payload_for(DataType.QUOTE, SYMBOL, 10))
    for i in range(TOTAL):
        await fresh_nc.publish(subject, body, headers={"Nats-Msg-Id": f"p{i}"})
    await fresh_nc.flush()
    for _ in range(100):  # core publishes are stored asynchronously
        if (await js.stream_info("MD_QUOTE")).state.messages == TOTAL:
            break
        await asyncio.sleep(0.1)
    async with running_bridge(fresh_nats_server.url) as bridge:
        settings = bridge.settings
        reader = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
        connected = await reader.recv()
        assert connected is not None
        epoch = connected["data"]["epochs"]["MD_QUOTE"]
        await reader.send(
            "subscribe", {"symbol": SYMBOL, "resume_from": {"seq": 0, "epoch": epoch}}
        )
        (session,) = list(bridge.runtime.connections)
        peak = 0
        for _ in range(40):  # the client reads nothing for 2 s
            peak = max(peak, session.outbox.queued_bytes)
            await asyncio.sleep(0.05)
        history_bytes = TOTAL * 500  # each replayed envelope is over 500 characters
        one_pull = settings.resume_batch * 1_000
        assert 0 < peak <= settings.queue_max_bytes // 4 + one_pull < history_bytes // 4
        assert not session.outbox.overflowed
        seqs: list[int] = []
        recovered = None
        while recovered is None:
            frame = await reader.recv(timeout=30)
            assert frame is not None, "the connection ended"
            if frame["type"] == "status" and frame["data"]["event"] == "recovered":
                recovered = frame["data"]
            elif frame["type"] == "market_data":
                assert frame["metadata"]["replayed"] is True
                seqs.append(frame["metadata"]["seq"])
        assert seqs == list(range(1, TOTAL + 1))
        assert recovered["replayed"] == TOTAL
        reader.close()
