"""The snapshot path: ``Hub.latest_many`` answers cached subjects inline and fetches the rest,
in the order asked, as named records (a real nats-server; the cache filled by the real feed)."""

from __future__ import annotations

import asyncio

import orjson
from nats.aio.client import Client as NatsClient

from bridge.core.hub import Hub, Snapshot
from bridge.core.outbox import Outbox
from bridge.settings import BridgeSettings
from schemas import DataType, data_subject
from tests.support.market import payload_for

SYMBOLS = ["688801.SH", "688802.SH", "688803.SH"]  # this test's own
UNPUBLISHED = "688809.SH"


def _ignore(dropped: dict[object, int], reason: str) -> None:
    return None


async def test_latest_many_keeps_the_order_and_skips_subjects_never_published(
    nc: NatsClient,
) -> None:
    js = nc.jetstream()
    subjects = [data_subject(DataType.QUOTE, s) for s in SYMBOLS]
    seqs = {}
    for subject, symbol in zip(subjects, SYMBOLS, strict=True):
        ack = await js.publish(subject, orjson.dumps(payload_for(DataType.QUOTE, symbol, 1)))
        seqs[subject] = ack.seq
    hub = Hub(js, BridgeSettings())
    await hub.start()
    try:
        # A live member on the middle symbol: the shared feed puts its next message in the cache.
        outbox = Outbox(1 << 20, _ignore)
        hub.join(outbox, DataType.QUOTE, SYMBOLS[1], "tick", None, hold=False)
        await hub.sync_interest()
        ack = await js.publish(
            subjects[1], orjson.dumps(payload_for(DataType.QUOTE, SYMBOLS[1], 2))
        )
        seqs[subjects[1]] = ack.seq
        async with asyncio.timeout(10):
            while not any(item.seq == ack.seq for item in await outbox.take(100)):
                pass

        asked = [subjects[2], data_subject(DataType.QUOTE, UNPUBLISHED), subjects[1], subjects[0]]
        snaps = await hub.latest_many(DataType.QUOTE, asked)
    finally:
        await hub.close()

    assert all(isinstance(snap, Snapshot) for snap in snaps)
    assert [snap.subject for snap in snaps] == [subjects[2], subjects[1], subjects[0]]
    assert [snap.seq for snap in snaps] == [
        seqs[s] for s in (subjects[2], subjects[1], subjects[0])
    ]
    assert orjson.loads(snaps[1].payload)["symbol"] == SYMBOLS[1]
    assert all(snap.broker_ms > 0 for snap in snaps)
