"""What a client received, checked against what the stream holds: no gap, no duplicate, in order.

The stream is the truth: :func:`stream_truth` reads every (subject, seq) of a subscription's
filter from JetStream (headers only), :func:`check` compares one subscription's deliveries
with it over an interval. Used by the resume, fault and cluster tests alike.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

SUBJECT, SEQ = 0, 1


@dataclass(frozen=True, slots=True)
class Received:
    """One data message as a client got it."""

    subject: str
    seq: int
    snapshot: bool = False


@dataclass
class Report:
    label: str
    start: int
    end: int
    expected: int = 0
    received: int = 0
    gaps: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.duplicates or self.out_of_order or self.unexpected)

    def __str__(self) -> str:
        def few(values: list[int]) -> str:
            return f"{len(values)} {values[:10]}" if values else "0"

        return (
            f"{self.label}: ({self.start}, {self.end}] expected {self.expected}, received "
            f"{self.received}; gaps {few(self.gaps)}, duplicates {few(self.duplicates)}, "
            f"out of order {few(self.out_of_order)}, unexpected {few(self.unexpected)}"
        )


def check(
    received: Iterable[Received],
    truth: Sequence[tuple[str, int]],
    start: int,
    end: int,
    label: str = "",
) -> Report:
    """Live deliveries must be exactly the stream's messages in ``(start, end]``, in order.

    ``truth`` is every (subject, seq) the subscription's filter matches; snapshots are not
    part of the sequence and are ignored.
    """
    # what arrived after ``end`` was published after the truth was read: the next check's
    live = [r.seq for r in received if not r.snapshot and r.seq <= end]
    expected = [seq for _, seq in truth if start < seq <= end]
    report = Report(label, start, end, expected=len(expected), received=len(live))
    counts = Counter(live)
    report.duplicates = sorted(seq for seq, n in counts.items() if n > 1)
    report.out_of_order = [b for a, b in itertools.pairwise(live) if b < a]
    wanted = set(expected)
    report.gaps = [seq for seq in expected if seq not in counts]
    report.unexpected = sorted(seq for seq in counts if seq not in wanted)
    return report


async def stream_truth(
    js: JetStreamContext, stream: str, filter_subject: str, start_seq: int = 1
) -> list[tuple[str, int]]:
    """Every (subject, seq) of ``stream`` matching ``filter_subject`` from ``start_seq`` on."""
    found: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def collect(msg: Msg) -> None:
        tokens = msg._get_metadata_fields(msg.reply)
        found.append((msg.subject, int(tokens[5])))
        if tokens[8] == "0":
            done.set()

    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(1, start_seq),
        headers_only=True,
    )
    sub = await js.subscribe(
        filter_subject, stream=stream, cb=collect, ordered_consumer=True, config=config
    )
    try:
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        if info.num_pending or delivered:
            await asyncio.wait_for(done.wait(), 60)
    finally:
        await sub.unsubscribe()
    return found
