"""The session's side of the guarantees: resume, ack mode, slow-consumer notices, ending.

A mixin of :class:`bridge.ws.session.Session`, kept apart so the control path stays readable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from nats.errors import Error as NatsError

from bridge.access.principal import Principal, PrincipalKind
from bridge.core.channel import Channel, Membership
from bridge.core.frames import status_frame
from bridge.core.hub import Hub
from bridge.core.outbox import Outbox, control_item
from bridge.errors import AckLimitError, AckModeError, RequestError
from bridge.recovery.ackmode import AckSubscription
from bridge.recovery.catchup import ResumeError
from bridge.recovery.direct import HistoryError
from bridge.recovery.reliability import Reliability
from bridge.settings import BridgeSettings
from bridge.ws import hooks
from bridge.ws.validation import parse_data
from schemas import (
    AckRequest,
    CloseCode,
    DataType,
    ErrorCode,
    ResumeFrom,
    StatusEvent,
    SubscriptionRequest,
)

logger = logging.getLogger(__name__)


class ReliableSession:
    """Needs the attributes below from the session it is mixed into."""

    id: str
    principal: Principal
    peer_ip: str
    conflated: int
    outbox: Outbox
    memberships: dict[str, Membership]
    acks: dict[str, AckSubscription]
    _hub: Hub
    _settings: BridgeSettings
    _reliability: Reliability | None
    _ended: asyncio.Future[tuple[int, str]] | None
    _conflated: dict[str, int]
    _conflation_reason: str
    _notice_at: float
    _notice_timer: asyncio.TimerHandle | None

    if TYPE_CHECKING:  # provided by Session, which this mixes into

        def push_frame(self, text: str) -> None: ...

        def _leave(self, key: str) -> bool: ...

        async def _send_snapshot(self, member: Membership, notice: str | None = None) -> None: ...

    # -- ending the connection -----------------------------------------------------------

    @property
    def ended(self) -> asyncio.Future[tuple[int, str]]:
        """Resolved with (close code, reason) when the server decides to close."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        return self._ended

    def end(self, code: int, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result((code, reason))

    def _on_overflow(self, reason: str) -> None:
        self.end(CloseCode.SLOW_CONSUMER, reason)

    def _on_conflated(self, dropped: dict[Any, int], reason: str) -> None:
        """Count what the outbox conflated and tell the client, ahead of the data it holds.

        One notice per ``slow_consumer_notice_s``: the first at once (the outbox is still
        conflating, so the notice precedes the conflated data), the next ones when the period
        ends, counting everything conflated in between.
        """
        for channel, count in dropped.items():
            self.conflated += count
            member = self.memberships.get(channel.key) if isinstance(channel, Channel) else None
            if member is None:
                continue
            member.dropped += count
            self._conflated[channel.key] = self._conflated.get(channel.key, 0) + count
        self._conflation_reason = reason
        if self._notice_timer is not None or not self._conflated:
            return
        loop = asyncio.get_running_loop()
        delay = self._notice_at + self._settings.slow_consumer_notice_s - loop.time()
        if delay <= 0:
            self._conflation_notice()
        else:  # one notice per period, not one per conflation
            self._notice_timer = loop.call_later(delay, self._conflation_notice)

    def _conflation_notice(self) -> None:
        self._notice_timer = None
        self._notice_at = asyncio.get_running_loop().time()
        conflated, self._conflated = self._conflated, {}
        settings = self._settings
        self.outbox.push_first(
            control_item(
                status_frame(
                    StatusEvent.SLOW_CONSUMER,
                    action="conflated",
                    reason=self._conflation_reason,
                    conflated=conflated,
                    dropped_total={k: m.dropped for k, m in self.memberships.items() if m.dropped},
                    queue_max_bytes=settings.queue_max_bytes,
                    queue_max_age_ms=settings.queue_max_age_ms,
                )
            )
        )

    # -- requests ------------------------------------------------------------------------

    async def _ack(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        request = parse_data(AckRequest, data)
        subscription = self.acks.get(request.subscription_id)
        if subscription is None:
            raise RequestError(
                ErrorCode.UNKNOWN_SUBSCRIPTION,
                f"{request.subscription_id!r} is not an ack-mode subscription of this connection",
            )
        await subscription.ack(request.seq)

    def _check_reliable(self, request: SubscriptionRequest) -> None:
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

    async def _join(
        self,
        request: SubscriptionRequest,
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
                    principal=self._durable_owner(),
                    durable=request.durable,
                    key=key,
                    data_type=request.data_type,
                    symbol=symbol,
                    frequency=frequency,
                    fields=fields,
                    outbox=self.outbox,
                    on_ended=functools.partial(self._ack_ended, key),
                    start_after=resume.seq if resume is not None and epoch_ok else None,
                    snapshot=request.snapshot,
                    low_tier=self.principal.kind is not PrincipalKind.TOKEN
                    or self.principal.tier == 0,
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
            self.outbox, request.data_type, symbol, frequency, fields, hold=True
        )
        return member, {}

    def _durable_owner(self) -> str:
        """Whose durables these are: the token's subject; without a token, per address.

        Anonymous clients share no subject, so their durables (and their quota) are scoped
        by client address: one anonymous client cannot exhaust or take over another's.
        """
        if self.principal.kind is PrincipalKind.TOKEN:
            return self.principal.subject
        return f"{self.principal.subject}@{self.peer_ip}"

    async def _resume(self, member: Membership, resume: ResumeFrom, position: int) -> None:
        if self._reliability is None:
            return
        try:
            result = await self._reliability.replayer.resume(
                member, resume, position, self._send_snapshot
            )
            hooks.resume_result(result.recovered)
        except (ResumeError, NatsError, TimeoutError) as exc:
            logger.warning("resume failed: %s", exc, extra={"connection_id": self.id})
            self._end_subscription(member.channel.key, str(exc), ErrorCode.UNAVAILABLE)

    async def _send_history(self, member: Membership, bars: int) -> None:
        if self._reliability is None:
            return
        try:
            await self._reliability.history.send(member, bars)
        except (HistoryError, NatsError, TimeoutError) as exc:
            logger.warning("bar history failed: %s", exc, extra={"connection_id": self.id})
            self._end_subscription(member.channel.key, str(exc), ErrorCode.UNAVAILABLE)

    def _ack_ended(self, key: str, reason: str) -> None:
        self._end_subscription(key, reason, None)

    def _end_subscription(self, key: str, reason: str, code: ErrorCode | None) -> None:
        if self._leave(key):
            fields: dict[str, Any] = {"subscription_id": key, "reason": reason}
            if code is not None:
                fields["code"] = code.value
            self.push_frame(status_frame(StatusEvent.SUBSCRIPTION_ENDED, **fields))

    def _announce_down_sources(self) -> None:
        """Tell a new subscriber about sources already down that feed its subscriptions."""
        if self._reliability is None:
            return
        sources = self._reliability.sources
        channels = [m.channel for m in self.memberships.values()]
        for state in sources.states.values():
            if not state.up and any(state.feeds(channel) for channel in channels):
                self.push_frame(sources.notice(state))
