"""Publishing normalized market data into JetStream: acked, pipelined, idempotent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.errors import APIError

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


class Publisher:
    """Pipelines JetStream publishes with a bound on acks in flight.

    ``Nats-Msg-Id`` is built from the data (symbol, exchange time), not from the source, so a
    primary and a backup adapter publishing the same tick dedupe in the broker.
    """

    def __init__(self, js: JetStreamContext, *, max_in_flight: int = 512) -> None:
        self._js = js
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: set[asyncio.Future[Any]] = set()
        self.published = 0
        self.duplicates = 0
        self.failed = 0

    async def publish(
        self,
        subject: str,
        payload: Mapping[str, Any],
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue one message; returns once it is on the wire (its ack is awaited later)."""
        data = orjson.dumps(payload)
        hdrs = {MSG_ID_HEADER: msg_id, **(headers or {})}
        await self._slots.acquire()
        try:
            future = await self._js.publish_async(subject, data, headers=hdrs)
        except BaseException:
            self._slots.release()
            raise
        self._pending.add(future)
        future.add_done_callback(self._on_ack)

    def _on_ack(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        self._slots.release()
        if future.cancelled():
            self.failed += 1
            return
        exc = future.exception()
        if exc is not None:
            self.failed += 1
            if isinstance(exc, APIError):
                logger.warning("publish rejected: %s", exc.description)
            else:
                logger.warning("publish failed: %r", exc)
            return
        ack = future.result()
        if getattr(ack, "duplicate", False):
            self.duplicates += 1
        else:
            self.published += 1

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued message has been acknowledged (or failed)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
