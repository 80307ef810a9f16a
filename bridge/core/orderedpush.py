"""An ordered JetStream push consumer read straight from the bridge's parser.

nats-py's ordered consumer builds a ``Msg``, a header dict and a queue entry per message and
parses the JetStream metadata of each reply subject three times; for the live feed that was
most of the ingest cost (docs/benchmarks.md, "Where the time goes now"). This consumer takes
each read's run of deliveries from :func:`bridge.core.natsclient.subscribe_raw` and keeps the
ordered consumer's contract itself:

* flow control: a ``100 FlowControl Request`` is answered at once (every message before it
  has been handled: runs are processed in order, synchronously);
* heartbeats: an idle heartbeat naming a consumer sequence other than the last one seen, a
  stalled consumer's reply subject, or silence for two heartbeat intervals;
* order: a consumer sequence that is not the next one.

On a gap or silence it calls ``on_gap`` once and delivers nothing more; the owner
(:class:`bridge.core.feed.StreamFeed`) replaces it from its last processed stream sequence,
as nats-py's ordered consumer resets itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bridge.core.natsclient import (
    CONSUMER_SEQ,
    STREAM_SEQ,
    TIMESTAMP_NS,
    RawMessage,
    RawSubscription,
    ack_tokens,
    parse_header_lines,
    status_of,
    subscribe_raw,
)

logger = logging.getLogger(__name__)

# subject, stream sequence, broker time (ms), payload, header block (None when there is none)
OnDelivery = Callable[[str, int, int, bytes, "bytes | None"], None]

_LAST_CONSUMER = "Nats-Last-Consumer"
_STALLED = "Nats-Consumer-Stalled"
ACK_WAIT_S = 22 * 3600.0  # what nats-py's ordered consumer asks for: never redelivered


class OrderedPush:
    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        stream: str,
        on_delivery: OnDelivery,
        on_gap: Callable[[str], None],
        idle_heartbeat_s: float,
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._on_delivery = on_delivery
        self._on_gap = on_gap
        self._heartbeat_s = idle_heartbeat_s
        self._sub: RawSubscription | None = None
        self._watch: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()
        self._dseq = 0  # the last consumer sequence delivered
        self._active = True  # anything from the server since the last activity check
        self.lost = ""  # why this consumer stopped delivering; "" while it delivers
        self.consumer = ""  # its name, once created

    async def start(self, filters: list[str], start_seq: int, inactive_threshold_s: float) -> None:
        inbox = self._nc.new_inbox()
        self._sub = await subscribe_raw(self._nc, inbox, self._on_run)
        config = ConsumerConfig(
            deliver_subject=inbox,
            filter_subjects=filters,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start_seq,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            ack_wait=ACK_WAIT_S,
            flow_control=True,
            idle_heartbeat=self._heartbeat_s,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=inactive_threshold_s,
        )
        try:
            info = await self._js.add_consumer(self._stream, config)
        except BaseException:
            await self._sub.unsubscribe()
            self._sub = None
            raise
        self.consumer = info.name
        self._watch = asyncio.create_task(self._activity())

    async def stop(self) -> None:
        """Stop receiving; the consumer itself is the owner's to delete (:attr:`consumer`)."""
        self.lost = self.lost or "stopped"
        if self._watch is not None:
            self._watch.cancel()
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # -- the read loop's side -----------------------------------------------------------------

    def _on_run(self, run: list[RawMessage]) -> None:
        if self.lost:
            return
        self._active = True
        deliver = self._on_delivery
        for subject, reply, headers, payload in run:
            if headers is not None and headers.startswith(b"NATS/1.0 "):
                code, _ = status_of(headers)
                if code == "100":
                    self._control(reply, headers)
                    if self.lost:
                        return
                    continue
                if code:  # 409 consumer deleted, 408...: this consumer is over
                    self._gap(f"status {code} on the feed's consumer")
                    return
            try:
                tokens = ack_tokens(reply)
                dseq = int(tokens[CONSUMER_SEQ])
                sseq = int(tokens[STREAM_SEQ])
                broker_ms = int(tokens[TIMESTAMP_NS]) // 1_000_000
            except ValueError:
                self._gap(f"not a JetStream delivery: {reply[:60]!r}")
                return
            if dseq != self._dseq + 1:
                self._gap(f"consumer sequence {dseq} after {self._dseq}")
                return
            self._dseq = dseq
            deliver(subject.decode(), sseq, broker_ms, payload, headers)

    def _control(self, reply: bytes, headers: bytes) -> None:
        """Flow control and idle heartbeats (status 100)."""
        if reply:  # a flow-control request: everything before it has been handled
            self._publish(reply.decode())
            return
        fields = parse_header_lines(headers)
        stalled = fields.get(_STALLED)
        if stalled:
            self._publish(stalled)
        last = fields.get(_LAST_CONSUMER)
        if last is not None and last.isdigit() and int(last) != self._dseq:
            self._gap(f"heartbeat names consumer sequence {last}, last seen {self._dseq}")

    def _publish(self, subject: str) -> None:
        task = asyncio.ensure_future(self._nc.publish(subject, b""))
        self._replies.add(task)
        task.add_done_callback(self._replied)

    def _replied(self, task: asyncio.Task[None]) -> None:
        self._replies.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("flow-control reply failed: %r", task.exception())

    def _gap(self, why: str) -> None:
        if self.lost:
            return
        self.lost = why
        logger.info("feed %s consumer %s: %s; replacing it", self._stream, self.consumer, why)
        self._on_gap(why)

    async def _activity(self) -> None:
        """Silence for two heartbeat intervals means the consumer or the route is gone."""
        while not self.lost:
            await asyncio.sleep(2 * self._heartbeat_s)
            if not self._active and self._nc.is_connected:
                self._gap(f"nothing from the server for {2 * self._heartbeat_s:g} s")
            self._active = False
