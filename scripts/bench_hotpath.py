"""The bridge's per-message hot path in one process: encode once, push to every member, take.

Run: ``.venv/bin/python scripts/bench_hotpath.py --members 20 --messages 200000``

No sockets and no broker: a channel with N members (one outbox each) encodes M quotes and
fans each out; every ``--batch`` messages each outbox is drained the way the writer drains
it (``take`` and a walk over the items, as ``Session.run_writer`` updates its statistics).
Reports CPU ns per delivery (best of ``--repeats``), the figure a change to queue items,
the outbox or the channel moves; the socket send is left out on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bridge.core.channel import Channel, Membership
from bridge.core.outbox import Outbox
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20, help="messages per take")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = [
        asyncio.run(run_once(args.members, args.messages, args.batch)) for _ in range(args.repeats)
    ]
    print(
        orjson.dumps(
            {
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
