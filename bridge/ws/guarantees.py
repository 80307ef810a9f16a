"""What one connection offers beyond live fan-out: resume, ack mode and bar history.

A part the session holds (``session.guarantees``). It owns the connection's ack-mode
subscriptions; what it needs from the session (send a frame, leave a subscription, send a
snapshot) is handed in when it is built, so neither reaches into the other's state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from nats.errors import Error as NatsError

from bridge.access.principal import Principal, PrincipalKind
from bridge.core.channel import Channel, Membership
from bridge.core.frames import status_frame
from bridge.core.hub import Hub
from bridge.core.outbox import Outbox
from bridge.errors import AckLimitError, AckModeError, RequestError
from bridge.recovery.ackmode import AckSubscription
from bridge.recovery.catchup import ResumeError, SendSnapshot
from bridge.recovery.direct import HistoryError
from bridge.recovery.reliability import Reliability
from bridge.ws import hooks
from bridge.ws.validation import parse_data
from schemas import (
    AckRequest,
    DataType,
    ErrorCode,
    ResumeFrom,
    StatusEvent,
    SubscriptionRequest,
)

logger = logging.getLogger(__name__)


class Guarantees:
    """Resume and ack mode for one connection; without ``reliability`` both are refused."""

    def __init__(
        self,
        *,
        connection_id: str,
        hub: Hub,
        outbox: Outbox,
        reliability: Reliability | None,
        push_frame: Callable[[str], None],
        leave: Callable[[str], bool],
        send_snapshot: SendSnapshot,
    ) -> None:
        self.acks: dict[str, AckSubscription] = {}
        self._connection_id = connection_id
        self._hub = hub
        self._outbox = outbox
        self._reliability = reliability
        self._push_frame = push_frame
        self._leave = leave
        self._send_snapshot = send_snapshot

    async def ack(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        """The ``ack`` request handler."""
        request = parse_data(AckRequest, data)
        subscription = self.acks.get(request.subscription_id)
        if subscription is None:
            raise RequestError(
                ErrorCode.UNKNOWN_SUBSCRIPTION,
                f"{request.subscription_id!r} is not an ack-mode subscription of this connection",
            )
        await subscription.ack(request.seq)

    def check(self, request: SubscriptionRequest) -> None:
        guaranteed = request.ack or request.resume_from is not None or request.history
        if guaranteed and self._reliability is None:
            raise RequestError(
                ErrorCode.UNSUPPORTED, "resume, ack mode and history are not enabled"
            )
        if request.ack:
            if request.durable is None:
                raise RequestError(ErrorCode.BAD_REQUEST, "ack mode needs a 'durable' name")
            if request.data_type is not DataType.KLINE and request.frequency not in (None, "tick"):
                raise RequestError(
                    ErrorCode.BAD_REQUEST, "ack mode delivers every message: frequency is tick"
                )

    async def join(
        self,
        request: SubscriptionRequest,
        principal: Principal,
        peer_ip: str,
        symbol: str,
        frequency: str,
        fields: list[str] | None,
        key: str,
    ) -> tuple[Membership, dict[str, Any]]:
        """Join the shared channel (or open an ack-mode consumer); extra response fields."""
        if request.ack and self._reliability is not None and request.durable is not None:
            resume = request.resume_from
            epoch_ok = resume is not None and resume.epoch == self._hub.epoch_for(request.data_type)
            try:
                ack, existed = await self._reliability.acks.open(
                    principal=durable_owner(principal, peer_ip),
                    durable=request.durable,
                    key=key,
                    data_type=request.data_type,
                    symbol=symbol,
                    frequency=frequency,
                    fields=fields,
                    outbox=self._outbox,
                    on_ended=functools.partial(self._ack_ended, key),
                    start_after=resume.seq if resume is not None and epoch_ok else None,
                    snapshot=request.snapshot,
                    low_tier=principal.kind is not PrincipalKind.TOKEN or principal.tier == 0,
                )
            except AckLimitError as exc:
                raise RequestError(ErrorCode.DURABLE_LIMIT, str(exc), limit=exc.limit) from None
            except AckModeError as exc:
                raise RequestError(ErrorCode.UNAVAILABLE, str(exc)) from None
            self.acks[key] = ack
            extra = {"ack": True, "durable": request.durable, "consumer": ack.name}
            return ack.member, extra | {"continued": existed}
        # Held until the reply is queued: the reply, then snapshot or history, then live.
        member = self._hub.join(
            self._outbox, request.data_type, symbol, frequency, fields, hold=True
        )
        return member, {}

    def release(self, key: str) -> bool:
        """Stop the ack-mode subscription ``key`` if it is one (its durable stays)."""
        ack = self.acks.pop(key, None)
        if ack is None:
            return False
        ack.stop()  # the durable consumer stays: the client may come back to it
        return True

    async def resume(self, member: Membership, resume: ResumeFrom, position: int) -> None:
        if self._reliability is None:
            return
        # Every message from the resume point on, with no gap: the age bound, which keeps
        # live viewers fresh by conflating, would cut into the catch-up it queues behind.
        self._outbox.exact.add(member.channel)
        try:
            result = await self._reliability.replayer.resume(
                member, resume, position, self._send_snapshot
            )
            hooks.resume_result(result.recovered)
        except (ResumeError, NatsError, TimeoutError) as exc:
            logger.warning("resume failed: %s", exc, extra={"connection_id": self._connection_id})
            self.end_subscription(member.channel.key, str(exc), ErrorCode.UNAVAILABLE)

    async def send_history(self, member: Membership, bars: int) -> None:
        """``bars`` closed bars, then the live ones (bridge/recovery/barhistory.py)."""
        if self._reliability is None:
            return
        try:
            await self._reliability.history.send(member, bars)
        except (HistoryError, NatsError, TimeoutError) as exc:
            logger.warning(
                "bar history failed: %s", exc, extra={"connection_id": self._connection_id}
            )
            self.end_subscription(member.channel.key, str(exc), ErrorCode.UNAVAILABLE)

    def _ack_ended(self, key: str, reason: str) -> None:
        self.end_subscription(key, reason, None)

    def end_subscription(self, key: str, reason: str, code: ErrorCode | None) -> None:
        if self._leave(key):
            fields: dict[str, Any] = {"subscription_id": key, "reason": reason}
            if code is not None:
                fields["code"] = code.value
            self._push_frame(status_frame(StatusEvent.SUBSCRIPTION_ENDED, **fields))

    def announce_down_sources(self, channels: Iterable[Channel]) -> None:
        """Tell a new subscriber about sources already down that feed its subscriptions."""
        if self._reliability is None:
            return
        sources = self._reliability.sources
        channels = list(channels)
        for state in sources.states.values():
            if not state.up and any(state.feeds(channel) for channel in channels):
                self._push_frame(sources.notice(state))


def durable_owner(principal: Principal, peer_ip: str) -> str:
    """Whose durables these are: the token's subject; without a token, per address.

    Anonymous clients share no subject, so their durables (and their quota) are scoped by
    client address: one anonymous client cannot exhaust or take over another's.
    """
    if principal.kind is PrincipalKind.TOKEN:
        return principal.subject
    return f"{principal.subject}@{peer_ip}"
