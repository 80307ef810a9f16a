"""Ack mode: a subscription backed by a durable JetStream consumer of its own.

The consumer is named from the token's subject, the client's ``durable`` name and the
subscription key, so a client that reconnects (to any bridge) with the same durable name
finds its consumer again and continues at its first unacknowledged message. The name starts
with a tag of the subject, so no other user can reach (take over, ack, delete) it, and the
quotas of :mod:`bridge.recovery.ackquota` can count a user's durables on the broker. What it never
acks is redelivered after ``ack_wait`` (``metadata.delivered`` counts the deliveries);
``max_ack_pending`` bounds what is in flight. Consumers of clients that never return are
removed by the broker after ``inactive_threshold`` (short for anonymous and tier-0 users).
These messages never go through the shared channels.

The client's ``ack {seq}`` is cumulative over what *this connection delivered*: the bridge
acks each of those messages (explicit acks, not AckAll). JetStream may redeliver an older
message after newer ones, and an AckAll would then confirm a message the client has not
seen again yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bridge.core.channel import Channel, Membership
from bridge.core.frames import CLOCK
from bridge.core.natsclient import DELIVERED, STREAM_SEQ, RawMessage, ack_tokens
from bridge.core.outbox import Outbox
from bridge.errors import AckLimitError, AckModeError
from bridge.recovery.ackquota import CLIENT_DURABLE_PREFIX, DurableQuota, is_consumer_limit
from bridge.recovery.pull import (
    ConsumerGoneError,
    PullLoop,
    encode_pulled,
)
from bridge.settings import BridgeSettings
from schemas import STREAM_BY_TYPE, DataType

logger = logging.getLogger(__name__)

ACK = b"+ACK"
NAK = b"-NAK"
RETRY_PAUSE_S = 1.0
PULL_EXPIRES_S = 30.0

OnEnded = Callable[[str], None]


def ack_subscription_key(base_key: str, durable: str) -> str:
    return f"{base_key}:ack:{durable}"


def principal_tag(principal: str) -> str:
    """A fixed-size tag of a token subject: every durable of that user starts with it."""
    return hashlib.blake2s(principal.encode(), digest_size=6).hexdigest()


def consumer_name(principal: str, durable: str, key: str) -> str:
    """A valid, stable consumer name, owned by ``principal`` (its tag comes first)."""
    digest = hashlib.blake2s(f"{principal}\0{durable}\0{key}".encode(), digest_size=8).hexdigest()
    return f"{CLIENT_DURABLE_PREFIX}{principal_tag(principal)}_{durable}_{digest}"


class AckSubscription:
    def __init__(
        self,
        consumers: AckConsumers,
        name: str,
        stream: str,
        member: Membership,
        on_ended: OnEnded,
    ) -> None:
        self._consumers = consumers
        self.name = name
        self.stream = stream
        self.member = member
        self._on_ended = on_ended
        self.pending: dict[int, str] = {}  # stream seq -> reply subject of its latest delivery
        self.redelivered = 0
        self._pull: PullLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        settings = self._consumers.settings
        batch = max(1, min(settings.ack_batch, settings.ack_max_pending))
        while not self._stopped:
            self._pull = PullLoop(
                self._consumers.nc,
                self.stream,
                self.name,
                self._deliver,
                batch=batch,
                expires_s=PULL_EXPIRES_S,
                gate=self._gate,
            )
            try:
                await self._pull.run()
                return
            except ConsumerGoneError:
                if await self._consumers.exists(self.stream, self.name) is False:
                    self.end("the durable consumer was deleted")
                    return
            except (NatsError, TimeoutError) as exc:
                logger.info("ack-mode pull on %s interrupted: %r", self.name, exc)
            await asyncio.sleep(RETRY_PAUSE_S)

    def _deliver(self, messages: list[RawMessage]) -> bool:
        channel, push, now = self.member.channel, self.member.outbox.push, CLOCK.now_iso()
        for subject, reply, _, data in messages:
            tokens = ack_tokens(reply)
            seq, delivered = int(tokens[STREAM_SEQ]), int(tokens[DELIVERED])
            self.pending[seq] = reply.decode()
            if delivered > 1:
                self.redelivered += 1
            extra = f',"delivered":{delivered}'
            push(encode_pulled(channel, subject, seq, tokens, data, now, extra))
        return True

    def kick(self) -> None:
        if self._pull is not None:
            self._pull.kick()

    async def _gate(self) -> bool:
        outbox = self.member.outbox
        while not self._stopped and not outbox.overflowed:
            if await outbox.wait_below(outbox.max_bytes // 4, 5.0):
                return True
        return False

    async def ack(self, seq: int) -> int:
        """Confirm what this connection delivered up to ``seq``; returns how many."""
        covered = sorted(s for s in self.pending if s <= seq)
        for s in covered:
            await self._consumers.nc.publish(self.pending.pop(s), ACK)
        return len(covered)

    def end(self, reason: str) -> None:
        """Stop on the server's initiative and tell the session (it removes the subscription)."""
        if not self._stopped:
            self.stop()
            self._on_ended(reason)

    def stop(self) -> None:
        """Stop pulling; the durable consumer stays for the client to come back to.

        What this connection was given but never acked is handed back at once (NAK), so a
        client that reconnects continues at its first unacked message without waiting for
        ``ack_wait``.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._pull is not None:
            self._pull.stop()
        if self._task is not None and asyncio.current_task() is not self._task:
            self._task.cancel()
        self._consumers.forget(self)
        replies = [self.pending[seq] for seq in sorted(self.pending)]
        self.pending = {}
        if replies and not self._consumers.nc.is_closed:
            task = asyncio.create_task(self._hand_back(replies))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _hand_back(self, replies: list[str]) -> None:
        for reply in replies:
            await self._consumers.nc.publish(reply, NAK)

    async def delete(self) -> None:
        """Stop and remove the durable consumer: the client unsubscribed on purpose."""
        self.pending = {}
        self.stop()
        with contextlib.suppress(Exception):
            await self._consumers.js.delete_consumer(self.stream, self.name)
            self._consumers.quota.forget(self.stream, self.name)


class AckConsumers:
    """The ack-mode subscriptions of this process, by consumer name."""

    def __init__(self, nc: NatsClient, js: JetStreamContext, settings: BridgeSettings) -> None:
        self.nc = nc
        self.js = js
        self.settings = settings
        self.quota = DurableQuota(nc, settings)
        self._active: dict[str, AckSubscription] = {}

    def __len__(self) -> int:
        return len(self._active)

    async def open(
        self,
        *,
        principal: str,
        durable: str,
        key: str,
        data_type: DataType,
        symbol: str,
        frequency: str,
        fields: list[str] | None,
        outbox: Outbox,
        on_ended: OnEnded,
        start_after: int | None,
        snapshot: bool,
        low_tier: bool,
    ) -> tuple[AckSubscription, bool]:
        """Find or create the durable consumer and start pulling; True if it existed."""
        channel = Channel(data_type, symbol, frequency, fields)
        channel.key = key
        channel.conflatable = False  # every message must reach the client to be acked
        stream = STREAM_BY_TYPE[data_type]
        name = consumer_name(principal, durable, key)
        existed = await self.exists(stream, name)
        if existed is None:
            raise AckModeError("JetStream is not reachable; try again")
        if not existed:
            config = self._config(name, channel, start_after, snapshot, low_tier)

            async def create() -> None:
                try:
                    await self.js.add_consumer(stream, config)
                except (NatsError, TimeoutError) as exc:
                    if is_consumer_limit(exc):
                        raise AckLimitError(
                            f"{stream} has no room for another consumer", ("max_consumers", -1)
                        ) from None
                    raise AckModeError(f"could not create the durable consumer: {exc!r}") from None

            await self.quota.admit(stream, name, principal_tag(principal), create)
        previous = self._active.get(name)
        if previous is not None:
            previous.end("the durable was taken over by a newer connection")
        subscription = AckSubscription(
            self, name, stream, Membership(channel=channel, outbox=outbox), on_ended
        )
        self._active[name] = subscription
        subscription.start()
        return subscription, existed

    def _config(
        self, name: str, channel: Channel, start_after: int | None, snapshot: bool, low_tier: bool
    ) -> ConsumerConfig:
        if start_after is not None:
            policy, start = DeliverPolicy.BY_START_SEQUENCE, start_after + 1
        else:
            policy = DeliverPolicy.LAST_PER_SUBJECT if snapshot else DeliverPolicy.NEW
            start = None
        settings = self.settings
        return ConsumerConfig(
            durable_name=name,
            description=f"mdbridge ack-mode subscription {channel.key}",
            filter_subject=channel.subject,
            deliver_policy=policy,
            opt_start_seq=start,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=settings.ack_wait_s,
            max_ack_pending=settings.ack_max_pending,
            max_deliver=-1,
            inactive_threshold=min(
                settings.ack_inactive_threshold_low_tier_s, settings.ack_inactive_threshold_s
            )
            if low_tier
            else settings.ack_inactive_threshold_s,
        )

    async def exists(self, stream: str, name: str) -> bool | None:
        """Whether the consumer exists; None when the broker cannot say right now."""
        try:
            await self.js.consumer_info(stream, name)
        except NotFoundError:
            return False
        except (NatsError, TimeoutError):
            return None
        return True

    def kick(self) -> None:
        for subscription in self._active.values():
            subscription.kick()

    def forget(self, subscription: AckSubscription) -> None:
        if self._active.get(subscription.name) is subscription:
            del self._active[subscription.name]

    def close(self) -> None:
        for subscription in list(self._active.values()):
            subscription.stop()
