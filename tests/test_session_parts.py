"""The session's parts own their state: slow-consumer notices counted and rate-limited alone."""

from __future__ import annotations

import asyncio

import orjson

from bridge.core.channel import Channel, Membership
from bridge.core.outbox import Outbox
from bridge.ws.guarantees import Guarantees
from bridge.ws.session import Session
from bridge.ws.slownotice import ConflationNotices
from schemas import DataType


def _ignore(dropped: dict[object, int], reason: str) -> None:
    return None


class Frames(list[str]):
    """What the part sent, with an event per frame so a test can wait for the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def push(self, text: str) -> None:
        self.append(text)
        self.arrived.set()


def _notices(data_type: DataType, period_s: float) -> tuple[Channel, ConflationNotices, Frames]:
    channel = Channel(data_type, "600000.SH", "tick", None)
    memberships = {channel.key: Membership(channel, Outbox(1024, _ignore))}
    frames = Frames()
    notices = ConflationNotices(
        memberships, frames.push, period_s, queue_max_bytes=1024, queue_max_age_ms=50
    )
    return channel, notices, frames


async def test_the_first_notice_goes_at_once_and_the_rest_once_per_period() -> None:
    channel, notices, frames = _notices(DataType.QUOTE, period_s=0.2)

    notices.on_conflated({channel: 3}, "age")  # at once: it must precede the conflated data
    notices.on_conflated({channel: 2}, "bytes")
    notices.on_conflated({object(): 4}, "bytes")  # not one of this connection's: only counted
    await asyncio.sleep(0.05)
    notices.on_conflated({channel: 1}, "bytes")  # inside the period: waits for the next notice
    await asyncio.sleep(0)

    assert notices.total == 10
    assert len(frames) == 1
    first = orjson.loads(frames[0])["data"]
    assert first["event"] == "slow_consumer"
    assert (first["reason"], first["conflated"]) == ("age", {channel.key: 3})
    assert first["dropped_total"] == {channel.key: 3}
    assert first["queue_max_age_ms"] == 50
    frames.arrived.clear()
    await asyncio.wait_for(frames.arrived.wait(), 5)
    second = orjson.loads(frames[1])["data"]
    assert (second["reason"], second["conflated"]) == ("bytes", {channel.key: 3})
    assert second["dropped_total"] == {channel.key: 6}


async def test_a_cancelled_notice_is_never_sent() -> None:
    channel, notices, frames = _notices(DataType.DEPTH, period_s=0.05)
    notices.on_conflated({channel: 1}, "age")  # the first goes at once
    notices.on_conflated({channel: 1}, "age")  # the second waits for the period...
    notices.cancel()  # ...and is cancelled with the connection
    await asyncio.sleep(0.1)
    assert len(frames) == 1


def test_the_session_is_composed_not_mixed() -> None:
    assert Session.__bases__ == (object,)
    assert Guarantees.__bases__ == (object,)
