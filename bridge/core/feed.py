"""Shared interest: one ordered JetStream consumer per stream for the whole bridge process.

Every client subscription adds a reference to a subject; the stream's consumer filters on the
union of referenced subjects (or the whole stream past ``max_filter_subjects``). When the set
grows, the consumer is replaced starting at the next unprocessed stream sequence, so existing
subscribers see no gap and no duplicate. JetStream per-client consumers are for resume and
ack mode only (docs/architecture.md, "Shared interest").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.js import JetStreamContext

from bridge.core.natsclient import parse_header_lines
from bridge.core.orderedpush import OrderedPush
from schemas.subjects import subject_matches

logger = logging.getLogger(__name__)

# subject, stream sequence, broker timestamp (ms), payload
OnMessage = Callable[[str, int, int, bytes], None]
# stream, sequence, the message's headers: set only while a connection is traced
Tap = Callable[[str, int, dict[str, str] | None], None]

IDLE_HEARTBEAT_S = 2.0
DELETE_WAIT_S = 2.0
RETRY_S = 1.0  # a consumer that could not be created is tried again this often
INACTIVE_S = 10.0  # a consumer nobody reads (the bridge is gone) is deleted by the server


class StreamFeed:
    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        stream_wildcard: str,
        on_message: OnMessage,
        *,
        max_filter_subjects: int,
        debounce_s: float,
    ) -> None:
        self._js = js
        self.stream = stream
        self._wildcard = stream_wildcard
        self._on_message = on_message
        self._max_filters = max_filter_subjects
        self._debounce_s = debounce_s
        self._refs: dict[str, int] = {}
        self._active_filters: tuple[str, ...] = ()
        # the filters as a set and the wildcards among them: a subscribe storm asks
        # "covered?" once per subject, so it must not scan thousands of filters each time
        self._active_exact: frozenset[str] = frozenset()
        self._active_wild: tuple[str, ...] = ()
        self._uncovered: set[str] = set()  # referenced but not delivered by the consumer
        self._sub: OrderedPush | None = None
        self._replacing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._shrink_task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._closed = False
        self._covered_from: dict[str, int] = {}  # subject -> position its consumer started at
        self._restart_prior: tuple[str, ...] | None = None
        self.last_seq = 0
        self.failure = ""  # why the consumer could not be (re)created; "" while it runs
        self.idle = False  # the consumer was stopped for lack of interest
        self.reconfigurations = 0
        self.tap: Tap | None = None

    @property
    def subjects(self) -> dict[str, int]:
        """Referenced subjects and their counts (a view for diagnostics)."""
        return self._refs

    def is_referenced(self, subject: str) -> bool:
        return subject in self._refs

    def acquire(self, subject: str) -> None:
        """Reference ``subject``; :meth:`sync` makes the shared consumer deliver it."""
        count = self._refs.get(subject, 0)
        self._refs[subject] = count + 1
        if not count and not self._covers(subject):
            self._uncovered.add(subject)

    def covers(self, subject: str) -> bool:
        """Whether the consumer delivers ``subject`` right now."""
        return self._covers(subject)

    def start_for(self, subject: str) -> int:
        """After :meth:`sync`: the position after which every message on ``subject`` arrives.

        For a subject that was not delivered when it was acquired: a resume point for a
        subscriber that joined before the sync.
        """
        return self._covered_from.get(subject, self.last_seq)

    async def sync(self) -> None:
        """Bring the consumer's filter up to the referenced subjects, if it lacks any.

        Callers register all their subjects first and sync once, so a request for 500
        symbols costs one consumer update, and concurrent requests share one too.
        """
        if not self._uncovered:
            return
        if self._debounce_s:
            await asyncio.sleep(self._debounce_s)
        # Its own task: a caller that goes away must not cut a consumer change short.
        task = asyncio.create_task(self._apply())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        await asyncio.shield(task)

    def release(self, subject: str) -> None:
        count = self._refs.get(subject, 0)
        if count <= 1:
            self._refs.pop(subject, None)
            self._covered_from.pop(subject, None)
            self._uncovered.discard(subject)
            self._schedule_shrink()
        else:
            self._refs[subject] = count - 1

    def _covers(self, subject: str) -> bool:
        return subject in self._active_exact or any(
            subject_matches(f, subject) for f in self._active_wild
        )

    def _set_filters(self, filters: tuple[str, ...]) -> None:
        self._active_filters = filters
        self._active_exact = frozenset(filters)
        self._active_wild = tuple(f for f in filters if "*" in f or ">" in f)
        self._uncovered = {s for s in self._refs if not self._covers(s)}

    def _desired_filters(self) -> tuple[str, ...]:
        if not self._refs:
            return ()
        if len(self._refs) > self._max_filters:
            return (self._wildcard,)
        # JetStream refuses overlapping filters (`*.SH` beside `600000.SH`): keep the wildcard.
        wild = {s for s in self._refs if "*" in s or ">" in s}
        return tuple(
            sorted(
                s for s in self._refs if s in wild or not any(subject_matches(w, s) for w in wild)
            )
        )

    def _schedule_shrink(self) -> None:
        # Narrowing is lazy: unwanted messages are only dropped by the router meanwhile.
        if self._shrink_task is None or self._shrink_task.done():
            self._shrink_task = asyncio.create_task(self._shrink_later())

    async def _shrink_later(self) -> None:
        await asyncio.sleep(max(self._debounce_s * 10, 0.2))
        with contextlib.suppress(Exception):  # a failure is kept in `failure` and retried
            await self._apply()

    async def _apply(self) -> None:  # noqa: C901 (one pass over the wanted changes, in order)
        async with self._lock:
            if self._closed:  # shutting down: interest changes no longer reach NATS
                return
            desired = self._desired_filters()
            if desired == self._active_filters:
                if not desired:
                    self.failure = ""  # nothing wanted: nothing missing
                return
            # Wait for the old consumer to go: on a stream at its max_consumers the new one
            # needs its place.
            await self._stop_consumer(wait=True)
            if self.last_seq == 0 or self.idle:
                # Nobody listened meanwhile: what was published since is no one's gap, and
                # replaying it would flood new subscribers with history.
                info = await self._js.stream_info(self.stream)
                self.last_seq = info.state.last_seq
            # The new consumer delivers every message after this position; deliveries may
            # arrive (and move last_seq) before add_consumer answers, so remember it now.
            start_from = self.last_seq
            if desired:
                push = OrderedPush(
                    self._js._nc,  # the raw path reads this connection's parser
                    self._js,
                    self.stream,
                    self._deliver,
                    self._lost,
                    IDLE_HEARTBEAT_S,
                )
                try:
                    await push.start(list(desired), start_from + 1, INACTIVE_S)
                    self._sub = push
                except Exception as exc:
                    # Nothing is delivered now: say so (readiness), and let the next sync
                    # or restart try again from the same position (no gap for anyone).
                    self.failure = f"no consumer on {self.stream}: {exc!r}"
                    self._restart_prior = self._restart_prior or self._active_filters
                    self._set_filters(())
                    if self._retry_task is None or self._retry_task.done():
                        self._retry_task = asyncio.create_task(self._retry())
                    raise
            self.failure = ""
            # Subjects delivered only from now on start here; the others keep their start.
            prior = self._restart_prior or self._active_filters
            if prior != (self._wildcard,):
                before = set(prior)
                for subject in self._refs:
                    if subject not in before:
                        self._covered_from[subject] = start_from
            self._restart_prior = None
            self._set_filters(desired)
            self.idle = not desired
            self.reconfigurations += 1
            logger.debug("feed %s now filters %d subjects", self.stream, len(desired))

    async def _retry(self) -> None:
        while self.failure and not self._closed:
            await asyncio.sleep(RETRY_S)
            with contextlib.suppress(Exception):
                await self._apply()

    async def restart(self, attempts: int = 60, pause_s: float = 0.5) -> None:
        """Replace the consumer with a new one from the next unprocessed sequence.

        After a reconnect the server may have lost the ordered consumer (a restart) or not
        be serving JetStream yet, so this retries for a while.
        """
        async with self._lock:
            if self._closed or not self._active_filters:
                return
            await self._stop_consumer()
            self._restart_prior = self._active_filters
            self._set_filters(())
        for _ in range(attempts):
            try:
                await self._apply()
                return
            except Exception as exc:  # JetStream not back yet: try again
                logger.info("feed %s not restarted yet: %r", self.stream, exc)
                await asyncio.sleep(pause_s)

    @property
    def healthy(self) -> bool:
        """False while subjects are referenced but no consumer delivers them."""
        return not self.failure

    async def _stop_consumer(self, *, wait: bool = False) -> None:
        # Unsubscribing drops what is queued locally; the next consumer starts right after
        # the last processed sequence, so nothing is lost.
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await sub.stop()
            consumer = sub.consumer
            if consumer:  # don't leave the old ephemeral consumer to time out
                task = asyncio.create_task(self._js.delete_consumer(self.stream, consumer))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
                if wait:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(task), DELETE_WAIT_S)

    def _deliver(
        self, subject: str, seq: int, broker_ms: int, data: bytes, headers: bytes | None
    ) -> None:
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        if self.tap is not None:
            self.tap(self.stream, seq, parse_header_lines(headers) if headers else None)
        self._on_message(subject, seq, broker_ms, data)

    def _lost(self, why: str) -> None:
        """The consumer skipped or went silent: replace it from the last processed sequence."""
        if self._replacing is None or self._replacing.done():
            self._replacing = asyncio.create_task(self.restart())

    async def close(self) -> None:
        self._closed = True
        for task in (self._shrink_task, self._retry_task):
            if task is not None:
                task.cancel()
        async with self._lock:
            await self._stop_consumer()
            self._set_filters(())
