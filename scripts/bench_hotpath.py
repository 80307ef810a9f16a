"""The bridge's per-message hot path in one process: encode once, push to every member, write.

Run: ``.venv/bin/python scripts/bench_hotpath.py --members 20 --messages 200000 [--mode M]``

No sockets and no broker: a channel with N members encodes M quotes and fans each out; every
``--batch`` messages (one read from NATS) the members' queues are drained:

* ``--mode queue``: each outbox drained the way the writer task drained it (``take`` and a
  walk over the items, as ``Session.run_writer`` updates its statistics), the socket send
  left out: the figure a change to queue items, the outbox or the channel moves, comparable
  with versions before the direct write;
* ``--mode market``: the accelerated ×10 shape (``--sessions`` connections on
  ``--per-session`` of ``--channels`` symbols each, random message order) on the direct path;
* ``--mode direct`` (default): N real ``Session`` writers on the direct path
  (bridge/core/framesink.py): the flusher runs after the batch and each session builds or
  reuses the frame and writes it to a sink that only counts bytes, so everything but the
  ``send`` system call itself is in the figure.

Reports CPU ns per delivery (best of ``--repeats``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bridge.core.channel import Channel, Membership
from bridge.core.framesink import FrameSink
from bridge.core.outbox import Flusher, Outbox
from bridge.settings import BridgeSettings
from bridge.ws.session import Session
from schemas import DataType
from tests.support.market import payload_for


def _conflated(*_: Any) -> None:
    return None


async def run_once(members: int, messages: int, batch: int) -> float:
    channel = Channel(DataType.QUOTE, "600000.SH", "tick", None)
    outboxes = [Outbox(64 * 1024 * 1024, _conflated) for _ in range(members)]
    for outbox in outboxes:
        channel.members.append(Membership(channel, outbox))
    payload = orjson.dumps(payload_for(DataType.QUOTE, "600000.SH", 10)).decode()
    subject, stamp = channel.subject, "2026-12-05T09:30:00.000+08:00"
    seen = 0
    began = time.process_time_ns()
    for seq in range(1, messages + 1):
        channel.deliver(channel.encode(subject, seq, 1_700_000_000_000, payload, stamp))
        if seq % batch == 0:
            for outbox in outboxes:
                for item in await outbox.take(batch):
                    if item.channel is not None:  # what the writer does per item: statistics
                        seen += len(item.text) + item.seq
    elapsed = time.process_time_ns() - began
    assert seen > 0
    return elapsed / (members * messages)


class CountingSink(FrameSink):
    """A sink that is always open and writable and only counts what it is given."""

    __slots__ = ("written",)

    def __init__(self) -> None:  # no protocol behind it
        self.written = 0

    @property
    def usable(self) -> bool:
        return True

    @property
    def writable(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def write(self, frame: bytes) -> None:
        self.written += len(frame)


async def run_direct(members: int, messages: int, batch: int) -> float:
    channel = Channel(DataType.QUOTE, "600000.SH", "tick", None)
    settings, flusher = BridgeSettings(), Flusher()
    sinks = [CountingSink() for _ in range(members)]
    for sink in sinks:
        session = Session(_never_send, cast(Any, None), cast(Any, None), settings)
        session.go_direct(sink, flusher)
        member = Membership(channel, session.outbox)
        session.memberships[channel.key] = member
        channel.members.append(member)
    payload = orjson.dumps(payload_for(DataType.QUOTE, "600000.SH", 10)).decode()
    subject, stamp = channel.subject, "2026-12-05T09:30:00.000+08:00"
    began = time.process_time_ns()
    for seq in range(1, messages + 1):
        channel.deliver(channel.encode(subject, seq, 1_700_000_000_000, payload, stamp))
        if seq % batch == 0:
            await asyncio.sleep(0)  # the flusher runs: every member written once
    elapsed = time.process_time_ns() - began
    assert all(sink.written > 0 for sink in sinks)
    return elapsed / (members * messages)


async def run_market(
    sessions: int, per_session: int, channels: int, messages: int, batch: int
) -> float:
    """The accelerated ×10 shape: many sessions, each on a few of many channels (~3.7 members
    per message at 1,000 × 20 of 5,400), messages in random channel order."""
    rng = random.Random(1)
    market = [
        Channel(DataType.QUOTE, f"{600000 + i:06d}.SH", "tick", None) for i in range(channels)
    ]
    settings, flusher = BridgeSettings(), Flusher()
    for _ in range(sessions):
        session = Session(_never_send, cast(Any, None), cast(Any, None), settings)
        session.go_direct(CountingSink(), flusher)
        for channel in rng.sample(market, per_session):
            member = Membership(channel, session.outbox)
            session.memberships[channel.key] = member
            channel.members.append(member)
    payloads = [orjson.dumps(payload_for(DataType.QUOTE, c.symbol, 10)).decode() for c in market]
    order = [rng.randrange(channels) for _ in range(messages)]
    deliveries = sum(len(market[i].members) for i in order)
    stamp = "2026-12-05T09:30:00.000+08:00"
    began = time.process_time_ns()
    for seq, i in enumerate(order, 1):
        channel = market[i]
        channel.deliver(channel.encode(channel.subject, seq, 1_700_000_000_000, payloads[i], stamp))
        if seq % batch == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0)
    return (time.process_time_ns() - began) / deliveries


async def _never_send(text: str) -> None:
    raise AssertionError("the direct path must not use the ASGI send")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20, help="messages per take")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mode", choices=("direct", "queue", "market"), default="direct")
    parser.add_argument("--sessions", type=int, default=1000, help="market: connections")
    parser.add_argument("--per-session", type=int, default=20, help="market: symbols each")
    parser.add_argument("--channels", type=int, default=5400, help="market: symbols in all")
    args = parser.parse_args()
    runs: list[float] = []
    for _ in range(args.repeats):
        if args.mode == "market":
            runs.append(
                asyncio.run(
                    run_market(
                        args.sessions, args.per_session, args.channels, args.messages, args.batch
                    )
                )
            )
        else:
            run = run_direct if args.mode == "direct" else run_once
            runs.append(asyncio.run(run(args.members, args.messages, args.batch)))
    print(
        orjson.dumps(
            {
                "mode": args.mode,
                "members": args.members,
                "messages": args.messages,
                "batch": args.batch,
                "ns_per_delivery_best": round(min(runs), 1),
                "ns_per_delivery_all": [round(r, 1) for r in runs],
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
