"""Source status on ``md.status.<source_id>``: ``up``, a heartbeat every few seconds, ``down``.

A source whose upstream fails while the process lives (xtquant's link to MiniQMT, a silent
feed) reports ``down`` with a ``reason`` on each beat until it recovers, then ``up`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Literal

import orjson
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from schemas import epoch_ms_to_iso, status_subject
from services.adapter import Adapter
from services.publisher import MSG_ID_HEADER, Publisher

logger = logging.getLogger(__name__)

StatusEvent = Literal["up", "heartbeat", "down"]


class StatusReporter:
    """Publishes an adapter's health; wall-clock timestamps, so staleness is easy to judge."""

    def __init__(
        self, js: JetStreamContext, publisher: Publisher, adapter: Adapter, *, interval_s: float
    ) -> None:
        self._js = js
        self._publisher = publisher
        self._adapter = adapter
        self._interval_s = interval_s
        self._subject = status_subject(adapter.source_id)
        self._was_healthy = True
        self._failure: str | None = None  # why the source failed (the runner reconnects it)

    def payload(self, event: StatusEvent) -> tuple[dict[str, Any], str]:
        """The status message and its ``Nats-Msg-Id``."""
        now_ms = int(time.time() * 1000)
        status = self._adapter.status()
        payload: dict[str, Any] = {
            "source": self._adapter.source_id,
            "event": event,
            "timestamp": epoch_ms_to_iso(now_ms),
            "phase": status["phase"],
            "symbols": status["symbols"],
            "published": self._publisher.published,
            "duplicates": self._publisher.duplicates,
        }
        if "received" in status:
            payload["received"] = status["received"]
        if event != "down" and not status.get("healthy", True):
            payload["event"] = event = "down"
            payload["reason"] = status.get("detail", "source unhealthy")
        if event == "down" and self._failure is not None:
            payload["reason"] = self._failure
        return payload, f"status:{self._adapter.source_id}:{event}:{now_ms}"

    async def source_failed(self, reason: str) -> None:
        """The source went away: ``down`` now and in place of heartbeats, until it is back."""
        self._failure = reason
        await self._send("down")

    async def run(self, stop: asyncio.Event) -> None:
        """Announce ``up`` once the adapter is ready, then a heartbeat per interval until stop."""
        ready = asyncio.ensure_future(self._adapter.ready.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if stop.is_set():
            return
        self._failure = None
        await self._send("up")
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at = max(next_at + self._interval_s, loop.time())  # no drift, no burst
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_at - loop.time())
            if stop.is_set():
                return
            if self._failure is not None:  # the runner is reconnecting the source
                if self._adapter.ready.is_set():
                    self._failure = None  # reconnected: data flows again
                    await self._send("up")
                else:
                    await self._send("down")
                continue
            healthy = self._adapter.status().get("healthy", True)
            await self._send("up" if healthy and not self._was_healthy else "heartbeat")
            self._was_healthy = healthy

    async def down(self, timeout: float = 2.0) -> None:
        """The last word: published with its ack awaited, so it outlives the adapter."""
        payload, msg_id = self.payload("down")
        try:
            await self._js.publish(
                self._subject,
                orjson.dumps(payload),
                timeout=timeout,
                headers={MSG_ID_HEADER: msg_id},
            )
        except (NatsError, TimeoutError) as exc:
            logger.warning("could not publish the down status: %r", exc)

    async def _send(self, event: StatusEvent) -> None:
        payload, msg_id = self.payload(event)
        try:
            await self._publisher.publish(self._subject, payload, msg_id)
        except NatsError as exc:  # disconnected: the next heartbeat tries again
            logger.warning("could not publish the %s status: %r", event, exc)
