"""Publishing normalized market data into JetStream: acked, pipelined, idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from nats.aio.client import Client
from nats.errors import BadHeaderError
from nats.js import JetStreamContext

from schemas.headers import PUB_MS, RECV_MS, TRACEPARENT
from services.jswire import HEADER_LINE, ReplyRouter, header_block, send_hpub

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
_ZERO_TRACE, _ZERO_PARENT = "0" * 32, "0" * 16


def new_traceparent() -> str:
    """A fresh W3C traceparent: one trace per message, not sampled (no span is recorded)."""
    ids = random.randbytes(24).hex()  # noqa: S311 (unique, not secret; one call per message)
    trace_id, parent_id = ids[:32], ids[32:]
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:  # invalid in W3C; never in practice
        return new_traceparent()
    return f"00-{trace_id}-{parent_id}-00"


class PublishObserver(Protocol):
    """What ``services.metrics`` learns from the publisher (it samples; calls must be cheap)."""

    def published(self, payload: Mapping[str, Any], published_ms: float) -> None: ...

    def acked(self, seconds: float) -> None: ...


class Publisher:
    """A window of JetStream publishes in flight, every ack checked, on one reply inbox.

    ``Nats-Msg-Id`` is built from the data (symbol, exchange time), not from the source, so a
    primary and a backup adapter publishing the same tick dedupe in the broker.

    Every message also carries a ``traceparent`` and its hop times (``Mdb-Recv-Ms``: handed to
    the publisher, or ``received_ms`` when the adapter knows better; ``Mdb-Pub-Ms``: written to
    NATS), which ``mdbridge trace`` reads back from the stream.

    Up to ``max_in_flight`` messages await their PubAck; the next publish waits for a slot.
    Acks come back on one wildcard subscription (``<inbox>.<n>``), handed over by the parser
    (``services.jswire.ReplyRouter``) and matched by number: no future, no ``Msg``, no
    per-message dataclass; the frame is written by ``services.jswire.send_hpub``. Together
    about a fifth of what nats-py's ``publish_async`` costs per message (docs/benchmarks.md).

    A failed publish (an error PubAck, no stream for the subject) is counted and logged, never
    retried: a retry would land after later messages of the same subject and reorder it. A
    re-publish of the same data (a restarted or backup adapter) is harmless: its id dedupes.

    An ack that never comes (the server died with the message in flight, or stopped storing)
    would hold its slot forever: acks older than ``ack_timeout`` are given up (counted as
    failed) on the next publish, or after ``ack_timeout`` once every slot is taken, so
    publishing resumes and a large window never delays noticing a failing server.
    """

    def __init__(
        self, js: JetStreamContext, *, max_in_flight: int = 4096, ack_timeout: float = 5.0
    ) -> None:
        self._nc: Client = js._nc  # acks come back on our own inbox of this connection
        self._max_in_flight = max_in_flight
        self._ack_timeout = ack_timeout
        self._pending: dict[int, float] = {}  # reply number -> monotonic send time
        self._expire_at = 0.0  # monotonic time of the next look for acks given up on
        self._next = 0
        self._prefix = b""  # b"<inbox>." once the reply subscription exists
        self._starting: asyncio.Lock | None = None
        self._slot_free = asyncio.Event()  # set whenever an ack leaves room in the window
        self._drained = asyncio.Event()  # set whenever nothing is in flight
        self._drained.set()
        self.published = 0
        self.duplicates = 0
        self.failed = 0
        # monotonic time of the first failed ack since the last good one: a server through
        # which JetStream stopped answering (services/runner.py moves off it)
        self.failing_since: float | None = None
        self.observer: PublishObserver | None = None

    async def publish(
        self,
        subject: str,
        payload: Mapping[str, Any],
        msg_id: str,
        headers: Mapping[str, str] | None = None,
        *,
        received_ms: float | None = None,
    ) -> None:
        """Queue one message; returns once it is on the wire (its ack is awaited later)."""
        received = received_ms if received_ms is not None else time.time() * 1000
        data = orjson.dumps(payload)
        if self._pending and time.monotonic() >= self._expire_at:
            self._expire()
        if len(self._pending) >= self._max_in_flight or not self._prefix:
            await self._wait_for_slot()
        published = time.time() * 1000
        if "\r" in msg_id or "\n" in msg_id:
            raise BadHeaderError(MSG_ID_HEADER)
        header = _HEADERS % (
            msg_id.encode(),
            new_traceparent().encode(),
            b"%.3f" % received,
            b"%.3f" % published,
        )
        if headers:
            header = header[:-2] + header_block(headers)[len(HEADER_LINE) :]
        if self.observer is not None:
            self.observer.published(payload, published)
        await self._send(subject, header, data)

    async def publish_raw(self, subject: str, data: bytes, hdrs: dict[str, str] | None) -> None:
        """A payload already encoded, with its headers as given: a replay keeps the recorded
        ``Nats-Msg-Id``, trace context and hop times."""
        if self._pending and time.monotonic() >= self._expire_at:
            self._expire()
        if len(self._pending) >= self._max_in_flight or not self._prefix:
            await self._wait_for_slot()
        await self._send(subject, header_block(hdrs or {}), data)

    async def _send(self, subject: str, header: bytes, data: bytes) -> None:
        number = self._next
        self._next = number + 1
        # in the window before the write: a forced flush inside it can yield, and the ack
        # may be read before the write returns
        self._pending[number] = time.monotonic()
        self._drained.clear()
        try:
            await send_hpub(self._nc, subject, self._prefix + b"%d" % number, header, data)
        except BaseException:  # refused (closed, no room to buffer): it holds no slot
            self._pending.pop(number, None)
            self._room()
            raise

    async def _wait_for_slot(self) -> None:
        """Until the window has room; every ``ack_timeout`` without, give up on stale acks."""
        if not self._prefix:
            await self._start()
        while len(self._pending) >= self._max_in_flight:
            self._slot_free.clear()
            try:
                await asyncio.wait_for(self._slot_free.wait(), self._ack_timeout)
            except TimeoutError:
                self._give_up_stale()

    async def _start(self) -> None:
        """Subscribe to this publisher's reply inbox (nats-py renews it after a reconnect)."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._prefix:
                return
            inbox = self._nc.new_inbox()
            await ReplyRouter.of(self._nc).subscribe(f"{inbox}.*", self._on_reply)
            self._prefix = f"{inbox}.".encode()

    def _expire(self) -> None:
        """Give up on acks older than ``ack_timeout`` even while the window has room, so a
        server that stopped storing is noticed (``failing_since``) at any publishing rate.

        Looked at every quarter ``ack_timeout``, not per publish: finding the oldest entry
        walks past the dict's holes left by acked entries (a tenth of the CPU per message).
        """
        now = time.monotonic()
        self._expire_at = now + self._ack_timeout / 4
        oldest = next(iter(self._pending.values()))  # dicts keep order: the first sent first
        if oldest <= now - self._ack_timeout:
            self._give_up_stale()

    def _give_up_stale(self) -> None:
        deadline = time.monotonic() - self._ack_timeout
        stale = []
        for number, sent in self._pending.items():  # in send order: stop at the first fresh
            if sent > deadline:
                break
            stale.append(number)
        if stale:
            logger.warning("%d publishes unacknowledged for %.0f s", len(stale), self._ack_timeout)
        for number in stale:
            self._pending.pop(number, None)
            self._failed()
        self._room()

    def _on_reply(self, subject: bytes, data: bytes, headers: bytes) -> None:
        try:
            number = int(subject[len(self._prefix) :])
        except ValueError:  # not an answer to one of ours
            return
        sent = self._pending.pop(number, None)
        if sent is None:
            return  # given up on already (counted as failed)
        self._room()
        if not data:  # a status instead of a PubAck: 503, no stream stores this subject
            self._failed()
            status = (
                headers[len(HEADER_LINE) - 2 :].split(b"\r\n", 1)[0].strip() if headers else b""
            )
            logger.warning(
                "publish failed: status %s (no stream for the subject?)", status.decode() or "?"
            )
            return
        ack = orjson.loads(data)
        error = ack.get("error")
        if error is not None:
            self._failed()
            logger.warning("publish rejected: %s", error.get("description", error))
            return
        self.failing_since = None
        if ack.get("duplicate"):
            self.duplicates += 1
        else:
            self.published += 1
        if self.observer is not None:
            self.observer.acked(time.monotonic() - sent)

    def _room(self) -> None:
        if len(self._pending) < self._max_in_flight:
            self._slot_free.set()
        if not self._pending:
            self._drained.set()

    def _failed(self) -> None:
        self.failed += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued message has been acknowledged (or failed)."""
        if self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)


# Nats-Msg-Id, traceparent, Mdb-Recv-Ms, Mdb-Pub-Ms: every message's headers, one format
_HEADERS = (
    HEADER_LINE
    + f"{MSG_ID_HEADER}: %s\r\n{TRACEPARENT}: %s\r\n{RECV_MS}: %s\r\n{PUB_MS}: %s\r\n\r\n".encode()
)
