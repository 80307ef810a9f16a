"""Publishing normalized market data into JetStream: acked, pipelined, idempotent."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from nats.js import JetStreamContext
from nats.js.errors import APIError

from schemas.headers import PUB_MS, RECV_MS, TRACEPARENT

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


def new_traceparent() -> str:
    """A fresh W3C traceparent: one trace per message, not sampled (no span is recorded)."""
    trace_id = random.getrandbits(128) or 1
    parent_id = random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{parent_id:016x}-00"


class PublishObserver(Protocol):
    """What ``services.metrics`` learns from the publisher (it samples; calls must be cheap)."""

    def published(self, payload: Mapping[str, Any], published_ms: float) -> None: ...

    def acked(self, seconds: float) -> None: ...


class Publisher:
    """Pipelines JetStream publishes with a bound on acks in flight.

    ``Nats-Msg-Id`` is built from the data (symbol, exchange time), not from the source, so a
    primary and a backup adapter publishing the same tick dedupe in the broker.

    Every message also carries a ``traceparent`` and its hop times (``Mdb-Recv-Ms``: handed to
    the publisher, or ``received_ms`` when the adapter knows better; ``Mdb-Pub-Ms``: written to
    NATS), which ``mdbridge trace`` reads back from the stream.

    An ack that never comes (the server died with the message in flight; nats-py has no
    timeout on these) would hold its slot forever: once every slot is taken, acks older
    than ``ack_timeout`` are given up (counted as failed) so publishing resumes.
    """

    def __init__(
        self, js: JetStreamContext, *, max_in_flight: int = 512, ack_timeout: float = 5.0
    ) -> None:
        self._js = js
        self._slots = asyncio.Semaphore(max_in_flight)
        self._ack_timeout = ack_timeout
        self._pending: dict[asyncio.Future[Any], float] = {}  # future -> monotonic send time
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
        await self._acquire()
        published = time.time() * 1000
        hdrs = {
            MSG_ID_HEADER: msg_id,
            TRACEPARENT: new_traceparent(),
            RECV_MS: f"{received:.3f}",
            PUB_MS: f"{published:.3f}",
            **(headers or {}),
        }
        if self.observer is not None:
            self.observer.published(payload, published)
        await self._send(subject, data, hdrs)

    async def publish_raw(self, subject: str, data: bytes, hdrs: dict[str, str] | None) -> None:
        """A payload already encoded, with its headers as given: a replay keeps the recorded
        ``Nats-Msg-Id``, trace context and hop times."""
        await self._acquire()
        await self._send(subject, data, hdrs)

    async def _acquire(self) -> None:
        if self._slots.locked():
            await self._acquire_stalled()
        else:
            await self._slots.acquire()

    async def _send(self, subject: str, data: bytes, hdrs: dict[str, str] | None) -> None:
        """Publish holding a slot; the ack releases it."""
        try:
            future = await self._js.publish_async(subject, data, headers=hdrs)
        except BaseException:
            self._slots.release()
            raise
        self._pending[future] = time.monotonic()
        future.add_done_callback(self._on_ack)

    async def _acquire_stalled(self) -> None:
        """Wait for a slot; every ``ack_timeout`` without one, give up on stale acks."""
        while True:
            try:
                await asyncio.wait_for(self._slots.acquire(), self._ack_timeout)
                return
            except TimeoutError:
                deadline = time.monotonic() - self._ack_timeout
                stale = [f for f, sent in self._pending.items() if sent <= deadline]
                if stale:
                    logger.warning(
                        "%d publishes unacknowledged for %.0f s", len(stale), self._ack_timeout
                    )
                for future in stale:
                    future.cancel()  # its callbacks free our slot and nats-py's

    def _on_ack(self, future: asyncio.Future[Any]) -> None:
        sent = self._pending.pop(future, None)
        self._slots.release()
        if future.cancelled():
            self._failed()
            return
        exc = future.exception()
        if exc is not None:
            self._failed()
            if isinstance(exc, APIError):
                logger.warning("publish rejected: %s", exc.description)
            else:
                logger.warning("publish failed: %r", exc)
            return
        self.failing_since = None
        ack = future.result()
        if getattr(ack, "duplicate", False):
            self.duplicates += 1
        else:
            self.published += 1
        if self.observer is not None and sent is not None:
            self.observer.acked(time.monotonic() - sent)

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
            await asyncio.wait(set(self._pending), timeout=timeout)
