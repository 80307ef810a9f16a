"""The adapters' publisher on a real nats-server: a window of publishes in flight, every ack
checked, every message stored once and in order per subject, failures surfaced."""

from __future__ import annotations

import asyncio
import re
import uuid

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import BadHeaderError, BadSubjectError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from mdbridge.natsserver import NatsServer
from schemas.headers import PUB_MS, RECV_MS, TRACEPARENT
from services.publisher import MSG_ID_HEADER, Publisher

SUBJECTS = 20
PER_SUBJECT = 100
TRACEPARENT_RE = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00")


async def _stream(js: JetStreamContext, **limits: object) -> tuple[str, str]:
    """A stream of this test's own: (name, subject prefix)."""
    tag = uuid.uuid4().hex[:10]
    name, prefix = f"WIN_{tag}", f"win.{tag}"
    await js.add_stream(
        StreamConfig(
            name=name,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            **limits,  # type: ignore[arg-type]
        )
    )
    return name, prefix


async def _read_all(
    js: JetStreamContext, name: str, prefix: str, count: int
) -> list[tuple[str, int]]:
    """(subject, n) of every stored message, in stream order."""
    got: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        got.append((msg.subject, orjson.loads(msg.data)["n"]))
        if len(got) >= count:
            done.set()

    sub = await js.subscribe(f"{prefix}.>", stream=name, cb=on_msg, ordered_consumer=True)
    try:
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await sub.unsubscribe()
    return got


async def test_every_message_is_stored_once_and_in_order_per_subject(nc: NatsClient) -> None:
    js = nc.jetstream()
    name, prefix = await _stream(js)
    window = 64
    publisher = Publisher(js, max_in_flight=window)
    most_in_flight = 0
    for n in range(PER_SUBJECT):
        for s in range(SUBJECTS):
            await publisher.publish(f"{prefix}.s{s}", {"n": n}, f"win:{s}:{n}")
            most_in_flight = max(most_in_flight, publisher.in_flight)
    await publisher.flush()
    total = SUBJECTS * PER_SUBJECT
    assert (publisher.published, publisher.duplicates, publisher.failed) == (total, 0, 0)
    assert publisher.in_flight == 0
    assert 1 < most_in_flight <= window  # pipelined, and never past the window
    info = await js.stream_info(name)
    assert info.state.messages == total  # stored exactly once: no loss, no double
    stored = await _read_all(js, name, prefix, total)
    for s in range(SUBJECTS):
        assert [n for subject, n in stored if subject == f"{prefix}.s{s}"] == list(
            range(PER_SUBJECT)
        )

    # The same data again (a restarted or backup adapter): the broker's dedupe drops it all.
    for n in range(PER_SUBJECT):
        for s in range(SUBJECTS):
            await publisher.publish(f"{prefix}.s{s}", {"n": n}, f"win:{s}:{n}")
    await publisher.flush()
    assert (publisher.published, publisher.duplicates, publisher.failed) == (total, total, 0)
    assert (await js.stream_info(name)).state.messages == total


async def test_headers_carry_the_id_the_trace_and_the_hop_times(nc: NatsClient) -> None:
    js = nc.jetstream()
    name, prefix = await _stream(js)
    publisher = Publisher(js, max_in_flight=4)
    await publisher.publish(
        f"{prefix}.a", {"n": 1}, "win:hdr:1", {"X-Extra": "yes"}, received_ms=1000.5
    )
    await publisher.publish_raw(f"{prefix}.b", b'{"n":2}', {MSG_ID_HEADER: "win:raw:2", "K": "v"})
    await publisher.flush()
    assert publisher.published == 2
    first = await js.get_msg(name, 1)
    headers = first.headers or {}
    assert headers[MSG_ID_HEADER] == "win:hdr:1"
    assert TRACEPARENT_RE.fullmatch(headers[TRACEPARENT])
    assert headers[RECV_MS] == "1000.500"
    assert float(headers[PUB_MS]) > 1000.5
    assert headers["X-Extra"] == "yes"
    assert orjson.loads(first.data or b"") == {"n": 1}
    raw = await js.get_msg(name, 2)
    assert raw.headers == {MSG_ID_HEADER: "win:raw:2", "K": "v"}
    assert raw.data == b'{"n":2}'


async def test_what_would_break_the_frame_is_refused_and_holds_no_slot(nc: NatsClient) -> None:
    js = nc.jetstream()
    _, prefix = await _stream(js)
    publisher = Publisher(js, max_in_flight=4)
    with pytest.raises(BadSubjectError):
        await publisher.publish(f"{prefix}.a b", {"n": 1}, "win:bad:1")
    with pytest.raises(BadHeaderError):
        await publisher.publish(f"{prefix}.a", {"n": 1}, "win:bad\r\n:1")
    with pytest.raises(BadHeaderError):
        await publisher.publish(f"{prefix}.a", {"n": 1}, "win:bad:2", {"X": "a\nb"})
    assert publisher.in_flight == 0
    await publisher.publish(f"{prefix}.a", {"n": 1}, "win:good:1")
    await publisher.flush()
    assert (publisher.published, publisher.failed) == (1, 0)


async def test_rejected_publishes_in_a_window_are_counted_as_failed(nc: NatsClient) -> None:
    js = nc.jetstream()
    name, prefix = await _stream(js, max_msgs=5, discard=DiscardPolicy.NEW)
    publisher = Publisher(js, max_in_flight=16)
    for n in range(12):
        await publisher.publish(f"{prefix}.s", {"n": n}, f"win:full:{n}")
    await publisher.flush()
    assert (publisher.published, publisher.failed) == (5, 7)  # the stream said: full
    assert publisher.failing_since is not None  # what moves an adapter to another server
    assert (await js.stream_info(name)).state.messages == 5
    # a subject no stream stores: nothing answers but the server's 503
    await publisher.publish(f"nostream.{uuid.uuid4().hex}", {"n": 0}, "win:none:0")
    await publisher.flush()
    assert publisher.failed == 8


async def test_the_connection_s_other_subscriptions_and_publishers_are_untouched(
    nc: NatsClient,
) -> None:
    """Acks skip nats-py's message path (services/jswire.py ReplyRouter); nothing else does."""
    js = nc.jetstream()
    name, prefix = await _stream(js)
    first, second = Publisher(js, max_in_flight=8), Publisher(js, max_in_flight=8)
    for n in range(20):
        await first.publish(f"{prefix}.a", {"n": n}, f"win:first:{n}")
        await second.publish(f"{prefix}.b", {"n": n}, f"win:second:{n}")
    await first.flush()
    await second.flush()
    assert (first.published, second.published) == (20, 20)
    plain = f"plain.{uuid.uuid4().hex}"
    sub = await nc.subscribe(plain)
    await nc.publish(plain, b"hi", headers={"K": "v"})
    msg = await sub.next_msg(timeout=2)
    assert (msg.data, msg.headers) == (b"hi", {"K": "v"})
    await sub.unsubscribe()
    assert (await js.stream_info(name)).state.messages == 40  # nats-py's own request path


async def test_every_ack_counts_when_each_publish_forces_a_flush(nats_server: NatsServer) -> None:
    """A pending buffer smaller than a frame makes every write wait for nats-py's flusher:
    the path on which an ack can be read before the write returns (the publish is entered in
    the window first for that; the race itself is too narrow to force here)."""
    nc = await nats.connect(nats_server.url, pending_size=64)
    try:
        js = nc.jetstream()
        name, prefix = await _stream(js)
        publisher = Publisher(js, max_in_flight=256)
        for n in range(300):
            await publisher.publish(f"{prefix}.s", {"n": n}, f"win:flush:{n}")
        await publisher.flush(timeout=10)
        assert (publisher.published, publisher.failed, publisher.in_flight) == (300, 0, 0)
        assert (await js.stream_info(name)).state.messages == 300
    finally:
        await nc.close()


async def test_lost_acks_are_given_up_while_the_window_still_has_room(nc: NatsClient) -> None:
    """A large window at a low rate never fills: lost acks must still fail in time, or the
    runner would not move off a server that stopped storing (FAILOVER_AFTER_S)."""
    js = nc.jetstream()
    tag = uuid.uuid4().hex[:10]
    sink = await nc.subscribe(f"noack.{tag}.>")  # no stream, a plain subscriber: no ack ever
    publisher = Publisher(js, max_in_flight=4096, ack_timeout=0.2)
    try:
        for n in range(8):
            await publisher.publish(f"noack.{tag}.s", {"n": n}, f"win:noack:{n}")
            await asyncio.sleep(0.05)
        assert publisher.failing_since is not None
        assert publisher.failed >= 1
        assert publisher.in_flight < 8
    finally:
        await sink.unsubscribe()


@pytest.mark.slow
async def test_a_killed_server_fails_the_window_in_flight_then_publishing_resumes(
    fresh_nats_server: NatsServer,
) -> None:
    nc = await nats.connect(
        fresh_nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    try:
        js = nc.jetstream()
        _, prefix = await _stream(js)
        publisher = Publisher(js, max_in_flight=32, ack_timeout=0.5)
        for n in range(200):
            await publisher.publish(f"{prefix}.s", {"n": n}, f"win:kill:{n}")
        await publisher.flush()
        assert (publisher.published, publisher.failed) == (200, 0)
        fresh_nats_server.kill()
        # acks stop: the window fills, stalls, and its stale acks are given up (not hung)
        for n in range(200, 280):
            await asyncio.wait_for(publisher.publish(f"{prefix}.s", {"n": n}, f"win:kill:{n}"), 5)
        assert publisher.failed >= 32
        assert publisher.failing_since is not None
        fresh_nats_server.start()
        before = publisher.published
        for n in range(280, 300):
            await asyncio.wait_for(publisher.publish(f"{prefix}.s", {"n": n}, f"win:kill:{n}"), 10)
        await publisher.flush(timeout=10)
        assert publisher.published >= before + 20
        assert publisher.failing_since is None  # good acks again
    finally:
        await nc.close()
