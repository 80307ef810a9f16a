"""Pulling from one JetStream consumer into a connection, at the pace the client reads.

Used for the two per-client consumers the bridge ever makes: the short-lived ephemeral one
that replays history on resume, and the durable one behind an ack-mode subscription. One
pull request is outstanding at a time; the next is only sent once the connection's queue has
drained below its low-water mark, so a slow reader slows its own pull, nobody else's.
Messages arrive on a raw inbox subscription (bridge/core/natsclient.py): the parser hands
over each read's messages as one list, from the read loop, with no ``Msg``, header dict,
queue or task per message; the consumer encodes a whole run in one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.client import Client as NatsClient

from bridge.core.channel import Channel
from bridge.core.natsclient import (
    TIMESTAMP_NS,
    RawMessage,
    status_of,
    subscribe_raw,
)
from bridge.core.outbox import Item
from bridge.errors import BridgeError

logger = logging.getLogger(__name__)

# JetStream deliveries in order (every one has a reply subject) -> False to stop pulling
OnPulled = Callable[[list[RawMessage]], bool]


def encode_pulled(
    channel: Channel,
    subject: bytes,
    seq: int,
    tokens: list[bytes],
    payload: bytes,
    now_iso: str,
    extra: str = "",
) -> Item:
    """A pulled message as the channel's frame, with the broker's sequence and time.

    Never conflated: history asked for in full (resume, ack mode) has no gaps.
    """
    return channel.encode(
        subject.decode(),
        seq,
        int(tokens[TIMESTAMP_NS]) // 1_000_000,
        payload.decode(),
        now_iso,
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
        on_messages: OnPulled,
        *,
        batch: int,
        expires_s: float,
        gate: Gate,
    ) -> None:
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._on_messages = on_messages
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
        """Pull until ``on_messages`` returns False or :meth:`stop`; raises ConsumerGoneError."""
        inbox = self._nc.new_inbox()
        sub = await subscribe_raw(self._nc, inbox, self._deliver)
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

    def _deliver(self, messages: list[RawMessage]) -> None:
        if self._stopped:
            return
        self._activity += 1
        first = 0  # messages[first:] are not handed over yet
        for i, (_, reply, headers, _) in enumerate(messages):
            if not reply:  # a status: heartbeat, request over, or consumer trouble
                if i > first and not self._pulled(messages[first:i]):
                    return
                first = i + 1
                self._status(headers)
        if first < len(messages):
            self._pulled(messages[first:] if first else messages)

    def _pulled(self, messages: list[RawMessage]) -> bool:
        if self._stopped:
            return False
        self.received += len(messages)
        if not self._on_messages(messages):
            self.stop()
            return False
        self._open -= len(messages)
        if self._open <= 0:
            self._done.set()
        return True

    def _status(self, headers: bytes | None) -> None:
        status, description = status_of(headers)
        if status in TERMINAL:
            description = description.lower()
            if status == NO_RESPONDERS or description.startswith(CONSUMER_GONE):
                self._gone = description or "no responders"
            self._done.set()
        elif status and status != HEARTBEAT:
            logger.debug("pull status %s %s", status, description)
