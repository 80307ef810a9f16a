"""Pulling from one JetStream consumer into a connection, at the pace the client reads.

Used for the two per-client consumers the bridge ever makes: the short-lived ephemeral one
that replays history on resume, and the durable one behind an ack-mode subscription. One
pull request is outstanding at a time; the next is only sent once the connection's queue has
drained below its low-water mark, so a slow reader slows its own pull, nobody else's.
Messages arrive on a core inbox subscription (no per-message task, no per-message timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bridge.core.channel import Channel
from bridge.core.frames import CLOCK
from bridge.core.outbox import Item
from bridge.errors import BridgeError

logger = logging.getLogger(__name__)

# metadata tokens of a JetStream message (nats-py's normalized ack-subject fields)
DELIVERED, STREAM_SEQ, TIMESTAMP_NS, PENDING = 4, 5, 7, 8

# (message, its metadata tokens) -> False to stop pulling
OnPulled = Callable[[Msg, list[str]], bool]


def encode_pulled(channel: Channel, msg: Msg, tokens: list[str], extra: str = "") -> Item:
    """A pulled message as the channel's frame, with the broker's sequence and time.

    Never conflated: history asked for in full (resume, ack mode) has no gaps.
    """
    return channel.encode(
        msg.subject,
        int(tokens[STREAM_SEQ]),
        int(tokens[TIMESTAMP_NS]) // 1_000_000,
        msg.data.decode(),
        CLOCK.now_iso(),
        extra,
        conflate=False,
    )


Gate = Callable[[], Awaitable[bool]]

HEARTBEAT = "100"
TERMINAL = frozenset({"404", "408", "409", "503"})
CONSUMER_GONE = ("consumer deleted", "consumer not found")
NO_RESPONDERS = "503"  # nothing served the request: no such consumer, or no JetStream now


class ConsumerGoneError(BridgeError):
    """The consumer disappeared (deleted, inactive, or the server lost it)."""


class PullLoop:
    def __init__(
        self,
        nc: NatsClient,
        stream: str,
        consumer: str,
        on_message: OnPulled,
        *,
        batch: int,
        expires_s: float,
        gate: Gate,
    ) -> None:
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._on_message = on_message
        self._batch = batch
        self._expires_s = expires_s
        self._heartbeat_s = max(0.5, min(5.0, expires_s / 4))
        self._gate = gate
        self._open = 0  # messages the outstanding request may still bring
        self._done = asyncio.Event()
        self._stopped = False
        self._gone: str | None = None
        self._activity = 0  # anything heard (messages, statuses): no clock read per message
        self.received = 0

    def stop(self) -> None:
        self._stopped = True
        self._done.set()

    def kick(self) -> None:
        """Send a new pull request now (after a reconnect the old one may be gone)."""
        self._done.set()

    async def run(self) -> None:
        """Pull until ``on_message`` returns False or :meth:`stop`; raises ConsumerGoneError."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox, cb=self._deliver)
        try:
            while not self._stopped:
                if not await self._gate():
                    return
                if self._stopped:
                    return
                self._open = self._batch
                self._done.clear()
                await self._nc.publish(self._next_subject, self._request(), reply=inbox)
                await self._wait_request()
                if self._gone is not None:
                    raise ConsumerGoneError(self._gone)
        finally:
            self._stopped = True
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _request(self) -> bytes:
        return orjson.dumps(
            {
                "batch": self._batch,
                "expires": int(self._expires_s * 1e9),
                "idle_heartbeat": int(self._heartbeat_s * 1e9),
            }
        )

    async def _wait_request(self) -> None:
        # A request that goes silent (server restarted, request lost) is replaced; the
        # server sends an idle heartbeat every heartbeat_s while it has nothing to send.
        silent = 0
        while not self._done.is_set():
            heard = self._activity
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._done.wait()
            silent = silent + 1 if self._activity == heard else 0
            if silent >= 3:
                logger.debug("pull request on %s went silent; sending another", self._next_subject)
                return

    async def _deliver(self, msg: Msg) -> None:
        if self._stopped:
            return
        self._activity += 1
        if not msg.reply:  # a status: heartbeat, request over, or consumer trouble
            headers = msg.headers or {}
            status = headers.get("Status", "")
            if status in TERMINAL:
                description = headers.get("Description", "").lower()
                if status == NO_RESPONDERS or description.startswith(CONSUMER_GONE):
                    self._gone = description or "no responders"
                self._done.set()
            elif status and status != HEARTBEAT:
                logger.debug("pull status %s %s", status, headers.get("Description"))
            return
        self.received += 1
        if not self._on_message(msg, msg._get_metadata_fields(msg.reply)):
            self.stop()
            return
        self._open -= 1
        if self._open <= 0:
            self._done.set()
