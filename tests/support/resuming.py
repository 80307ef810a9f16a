"""A small reconnect-and-resume WebSocket client written from PROTOCOL.md, and the check of
what it received against what the stream holds.

On every (re)connect it subscribes each symbol again, with ``resume_from`` = the last ``seq``
it processed and the subscription's epoch; when a connection ends it tries the next URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from websockets.exceptions import WebSocketException

from tests.support.wsclient import DATA_TYPES, Frame, WsClient

CONNECT_ERRORS = (OSError, TimeoutError, WebSocketException)


@dataclass
class Session:
    url: str
    live: int = 0  # data messages received on this connection
    close_code: int | None = None


@dataclass
class ResumingClient:
    name: str
    urls: list[str]
    symbols: list[str]
    data_type: str = "quote"
    seqs: dict[str, list[int]] = field(default_factory=dict)  # subject -> seqs, in order
    snapshots: dict[str, list[int]] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)  # subscription id -> seq
    epochs: dict[str, str] = field(default_factory=dict)  # subscription id -> epoch
    sessions: list[Session] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Frame] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            url = self.urls[attempt % len(self.urls)]
            with contextlib.suppress(*CONNECT_ERRORS):
                await self._session(url, stop)
            attempt += 1
            if not stop.is_set():  # full jitter, small: the test wants a quick failover
                await asyncio.sleep(random.uniform(0.05, 0.3))

    async def _session(self, url: str, stop: asyncio.Event) -> None:
        ws = await asyncio.wait_for(WsClient.open(url), 5)
        session = Session(url)
        try:
            first = await ws.next(timeout=5)
            assert first["data"]["event"] == "connected", first
            self.sessions.append(session)
            for symbol in self.symbols:
                await ws.send("subscribe", self._request(symbol))
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    self._handle(await ws.next(timeout=0.5), session)
        finally:
            session.close_code = ws.conn.close_code
            with contextlib.suppress(*CONNECT_ERRORS):
                await ws.close()

    def _request(self, symbol: str) -> dict[str, Any]:
        request: dict[str, Any] = {"symbol": symbol, "data_type": self.data_type}
        sub_id = f"{self.data_type}:{symbol}:tick"
        if sub_id in self.last_seq:
            resume = {"seq": self.last_seq[sub_id], "epoch": self.epochs[sub_id]}
            request["resume_from"] = resume
        return request

    def _handle(self, frame: Frame, session: Session) -> None:
        kind = frame["type"]
        if kind in DATA_TYPES:
            meta = frame["metadata"]
            seq = int(meta["seq"])
            target = self.snapshots if meta.get("snapshot") else self.seqs
            target.setdefault(meta["subject"], []).append(seq)
            self.last_seq[meta["subscription_id"]] = seq
            session.live += 0 if meta.get("snapshot") else 1
        elif kind == "subscribe":
            for result in frame["data"]["subscriptions"]:
                if result["status"] == "error":
                    self.errors.append(result)
                elif result.get("epoch"):
                    self.epochs[result["subscription_id"]] = result["epoch"]
        elif kind == "status" and frame["data"].get("event") == "recovered":
            self.recovered.append(frame["data"])
        elif kind == "error":
            self.errors.append(frame)


@dataclass
class Verdict:
    subject: str
    expected: int
    received: int
    gaps: list[int]
    duplicates: list[int]
    out_of_order: int

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.duplicates or self.out_of_order)


def verdict(subject: str, start: int, received: list[int], truth: list[int]) -> Verdict:
    """Deliveries after ``start`` must be exactly the stream's messages up to the last one."""
    end = received[-1] if received else start
    expected = [seq for seq in truth if start < seq <= end]
    counts = Counter(received)
    return Verdict(
        subject,
        expected=len(expected),
        received=len(received),
        gaps=[seq for seq in expected if seq not in counts],
        duplicates=sorted(seq for seq, n in counts.items() if n > 1),
        out_of_order=sum(1 for a, b in itertools.pairwise(received) if b < a),
    )


async def stream_truth(
    js: JetStreamContext, stream: str, subjects: list[str], start: int, end: int
) -> dict[str, list[int]]:
    """Sequences of each subject in ``stream`` from ``start`` to ``end``, read back in order."""
    truth: dict[str, list[int]] = {subject: [] for subject in subjects}
    done = asyncio.Event()
    config = ConsumerConfig(
        filter_subjects=subjects,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start,
        headers_only=True,
    )

    async def collect(msg: Any) -> None:
        seq = int(msg.metadata.sequence.stream)
        if seq <= end:
            truth[msg.subject].append(seq)
        if seq >= end or msg.metadata.num_pending == 0:
            done.set()

    sub = await js.subscribe(
        subjects[0], stream=stream, cb=collect, ordered_consumer=True, config=config
    )
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await sub.unsubscribe()
    return truth
