"""Resume: replay a subscription's history from JetStream, then hand over to the live feed.

The member joins its channel with live messages *held*; history after the client's ``seq``
is pulled from a short-lived ephemeral consumer (memory, one replica, no acks) straight into
the connection's queue, paced by how fast the client reads; then the held live messages
newer than the last replayed sequence are released. Nothing is lost, nothing sent twice.
When the history is gone, or the stream is not the one the client knew (epoch), the client
is told ``recovered: false`` and gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bridge.core.channel import Membership
from bridge.core.frames import CLOCK, status_frame
from bridge.core.hub import Hub
from bridge.core.natsclient import PENDING, STREAM_SEQ, RawMessage, ack_tokens
from bridge.core.outbox import control_item
from bridge.errors import BridgeError
from bridge.recovery.ackquota import is_consumer_limit
from bridge.recovery.pull import (
    ConsumerGoneError,
    PullLoop,
    encode_pulled,
)
from bridge.settings import BridgeSettings
from schemas import STREAM_BY_TYPE, ResumeFrom, StatusEvent

logger = logging.getLogger(__name__)

# sends the latest values, then the notice, then releases the member's held live messages
SendSnapshot = Callable[[Membership, str], Awaitable[None]]

RETRY_PAUSE_S = 0.25
# marks history in the frame: clients can tell, and the latency sampler skips it (its broker
# time is not when this send was caused)
REPLAYED = ',"replayed":true'


class ResumeError(BridgeError):
    """History could not be read from JetStream in time."""


@dataclass(slots=True)
class _Progress:
    last: int  # every message of the subscription up to here has been queued
    count: int = 0
    target: int = 0
    abandoned: str = ""
    since: datetime | None = None  # a resume by time: the first consumer starts here


@dataclass(frozen=True, slots=True)
class ResumeResult:
    recovered: bool
    replayed: int
    seq: int  # a valid resume point for the client after this
    mode: str  # replay | snapshot | latest
    reason: str = ""
    complete: bool = False  # every stored message of the subscription up to seq was replayed


class Replayer:
    def __init__(
        self, nc: NatsClient, js: JetStreamContext, hub: Hub, settings: BridgeSettings
    ) -> None:
        self._nc = nc
        self._js = js
        self._hub = hub
        self._settings = settings
        self._api_slots = asyncio.Semaphore(settings.resume_concurrency)
        self.resumes = 0
        self.replayed = 0

    async def resume(
        self, member: Membership, resume: ResumeFrom, position: int, snapshot: SendSnapshot
    ) -> ResumeResult:
        """Catch ``member`` up from ``resume.seq``, announce the result, release its hold.

        The ``status recovered`` frame goes between the catch-up and the first live message,
        so a client knows where its resumed history ends before anything new arrives.
        """
        self.resumes += 1
        try:
            result = await self._resume(member, resume, position, snapshot)
        except BaseException:
            member.hold = None  # the caller ends this subscription; stop parking messages
            raise
        self.replayed += result.replayed
        return result

    def _notice(self, member: Membership, result: ResumeResult) -> str:
        fields: dict[str, object] = {
            "subscription_id": member.channel.key,
            "recovered": result.recovered,
            "replayed": result.replayed,
            "seq": result.seq,
            "epoch": self._hub.epoch_for(member.channel.data_type),
            "mode": result.mode,
        }
        if result.reason:
            fields["reason"] = result.reason
        if result.mode == "replay":
            fields["replay_complete"] = result.complete
        return status_frame(StatusEvent.RECOVERED, **fields)

    def _finish(self, member: Membership, result: ResumeResult, floor: int) -> ResumeResult:
        member.outbox.push(control_item(self._notice(member, result)))
        member.release_hold({}, floor=floor)
        return result

    async def _resume(  # noqa: C901 (one flow, top to bottom: see pyproject)
        self, member: Membership, resume: ResumeFrom, position: int, snapshot: SendSnapshot
    ) -> ResumeResult:
        channel = member.channel

        async def with_snapshot(result: ResumeResult) -> ResumeResult:
            await snapshot(member, self._notice(member, result))
            return result

        if resume.time is not None:
            if channel.throttle_ms is not None:
                reason = "throttled: resumed with the latest value"
                return await with_snapshot(ResumeResult(True, 0, position, "latest", reason))
            return await self._resume_by_time(member, resume.time, position, with_snapshot)
        start = resume.seq or 0
        if resume.epoch != self._hub.epoch_for(channel.data_type):
            reason = "the stream epoch changed: history is from another stream"
            return await with_snapshot(ResumeResult(False, 0, position, "snapshot", reason))
        if channel.throttle_ms is not None:  # throttled: the latest value is the whole state
            reason = "throttled: resumed with the latest value"
            return await with_snapshot(ResumeResult(True, 0, position, "latest", reason))
        # Cheap check first: often nothing happened since. Only for a seq the feed has
        # reached: one past it may be ahead of the stream, which the stream check answers.
        if not channel.wildcard and start <= position:
            latest = await self._hub.latest(channel.data_type, channel.subject)
            if latest is not None and latest.seq <= start:
                return self._finish(
                    member,
                    ResumeResult(True, 0, max(start, position), "replay", complete=True),
                    start,
                )
        stream = STREAM_BY_TYPE[channel.data_type]
        async with self._api_slots:
            info = await self._js.stream_info(stream)
        first, last = info.state.first_seq, info.state.last_seq
        reason = ""
        if start > last:
            reason = f"seq {start} is ahead of the stream (last {last})"
        elif start + 1 < first:
            reason = f"history before seq {first} is no longer retained"
        if reason:
            return await with_snapshot(ResumeResult(False, 0, position, "snapshot", reason))
        progress = _Progress(last=start, target=last)
        if start < last:
            await self._replay(member, stream, progress)
        if progress.abandoned:
            result = ResumeResult(False, progress.count, position, "snapshot", progress.abandoned)
            return await with_snapshot(result)
        result = ResumeResult(
            True, progress.count, max(progress.last, position), "replay", complete=True
        )
        return self._finish(member, result, progress.last)

    async def _resume_by_time(
        self,
        member: Membership,
        since: datetime,
        position: int,
        with_snapshot: Callable[[ResumeResult], Awaitable[ResumeResult]],
    ) -> ResumeResult:
        """Every message of the subscription stored at or after ``since``, then live.

        JetStream's DeliverByStartTime picks the first message stored at or after the instant
        (broker time); held live messages past the last replayed one follow, as after a
        resume by sequence. Before the stream's first message the replay starts there, and
        the notice says ``recovered: false`` with the reason.
        """
        stream = STREAM_BY_TYPE[member.channel.data_type]
        async with self._api_slots:
            info = await self._js.stream_info(stream)
        reason = ""
        first_ts = (
            await self._stored_at(stream, info.state.first_seq) if info.state.messages else None
        )
        if first_ts is not None and since < first_ts:
            reason = f"history before {first_ts.isoformat()} is no longer retained"
        progress = _Progress(last=0, target=info.state.last_seq, since=since)
        if info.state.messages:
            await self._replay(member, stream, progress)
        if progress.abandoned:
            result = ResumeResult(False, progress.count, position, "snapshot", progress.abandoned)
            return await with_snapshot(result)
        seq = max(progress.last, position)
        result = ResumeResult(not reason, progress.count, seq, "replay", reason, complete=True)
        return self._finish(member, result, progress.last)

    async def _replay(self, member: Membership, stream: str, progress: _Progress) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.resume_timeout_s
        while True:
            name = ""
            try:
                async with self._api_slots:
                    info = await self._js.add_consumer(stream, self._config(member, progress))
                name = info.name
                pending = info.num_pending or 0
                if pending == 0:
                    return
                if progress.count + pending > settings.resume_max_messages:
                    progress.abandoned = (
                        f"{progress.count + pending} messages to replay, more than the "
                        f"limit of {settings.resume_max_messages}"
                    )
                    return
                await self._pull(member, stream, name, progress)
                return
            except (ConsumerGoneError, NatsError, TimeoutError) as exc:
                # A full stream does not empty itself within a resume's patience: say so now.
                if is_consumer_limit(exc) or loop.time() > deadline or member.outbox.overflowed:
                    raise ResumeError(f"could not replay from {stream}: {exc!r}") from None
                logger.info("replay of %s interrupted (%r); resuming it", stream, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
            finally:
                if name:
                    self._delete_later(stream, name)

    async def _stored_at(self, stream: str, seq: int) -> datetime | None:
        """When the broker stored message ``seq`` (None if it is gone meanwhile)."""
        try:
            async with self._api_slots:
                msg = await self._js.get_msg(stream, seq=seq)
        except NotFoundError:
            return None
        return msg.time

    def _config(self, member: Membership, progress: _Progress) -> ConsumerConfig:
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=progress.last + 1,
            filter_subject=member.channel.subject,
            inactive_threshold=max(5.0, self._settings.resume_timeout_s),
            mem_storage=True,
            num_replicas=1,
        )
        if progress.since is not None and progress.last == 0:
            # nothing queued yet: start at the instant (a re-created consumer goes by seq)
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_seq = None
            config.opt_start_time = progress.since
        return config

    async def _pull(
        self, member: Membership, stream: str, consumer: str, progress: _Progress
    ) -> None:
        channel, outbox = member.channel, member.outbox
        low_water = outbox.max_bytes // 4
        max_held = self._settings.resume_max_messages
        stall_s = self._settings.resume_timeout_s

        def on_messages(messages: list[RawMessage]) -> bool:
            now, push, last, target = CLOCK.now_iso(), outbox.push, progress.last, progress.target
            more = True
            for subject, reply, _, data in messages:
                tokens = ack_tokens(reply)
                seq = int(tokens[STREAM_SEQ])
                if seq > last:  # a re-created consumer may overlap what was queued
                    last = seq
                    progress.count += 1
                    push(encode_pulled(channel, subject, seq, tokens, data, now, REPLAYED))
                if seq >= target or tokens[PENDING] == b"0":
                    more = False
                    break
            progress.last = last
            return more

        async def gate() -> bool:
            if isinstance(member.hold, list) and len(member.hold) > max_held:
                progress.abandoned = f"more than {max_held} live messages arrived during replay"
                return False
            if await outbox.wait_below(low_water, stall_s):
                return True
            outbox.fail("the client did not read its resumed history")
            return False

        pull = PullLoop(
            self._nc,
            stream,
            consumer,
            on_messages,
            batch=self._settings.resume_batch,
            expires_s=5.0,
            gate=gate,
        )
        await pull.run()

    def _delete_later(self, stream: str, consumer: str) -> None:
        task = asyncio.create_task(self._delete(stream, consumer))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _delete(self, stream: str, consumer: str) -> None:
        with contextlib.suppress(Exception):  # inactive_threshold removes it otherwise
            await self._js.delete_consumer(stream, consumer)
