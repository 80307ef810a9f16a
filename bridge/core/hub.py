"""The local fan-out: shared feeds in, channels out, encode once per channel.

The hot path is :meth:`Hub._on_message`: a dict lookup by subject, one encode per channel,
and a push onto each member's outbox. Nothing here awaits a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import NamedTuple

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bridge.core.channel import Channel, Membership
from bridge.core.feed import StreamFeed
from bridge.core.frames import CLOCK
from bridge.core.outbox import Outbox
from bridge.settings import BridgeSettings
from schemas import STREAM_BY_TYPE, DataType, stream_subjects

logger = logging.getLogger(__name__)


class Snapshot(NamedTuple):
    """The latest message on one subject, as the snapshot path and REST read it."""

    subject: str
    seq: int
    broker_ms: int
    payload: str  # JSON text, spliced into frames unparsed


ROOM_CHECK_S = 2.0


class Hub:
    def __init__(self, js: JetStreamContext, settings: BridgeSettings) -> None:
        self._js = js
        self._settings = settings
        self._feeds = {
            data_type: StreamFeed(
                js,
                STREAM_BY_TYPE[data_type],
                stream_subjects(data_type),
                self._on_message,
                max_filter_subjects=settings.max_filter_subjects,
                debounce_s=settings.interest_debounce_s,
            )
            for data_type in DataType
        }
        self._channels: dict[str, Channel] = {}
        self._exact: dict[str, list[Channel]] = {}
        self._wild: dict[str, list[Channel]] = {}  # key: subject with the code as '*'
        self._latest: dict[str, tuple[int, int, str]] = {}
        self._dirty: dict[int, set[Channel]] = {}
        self._tickers: dict[int, asyncio.Task[None]] = {}
        self._snapshot_slots = asyncio.Semaphore(settings.snapshot_concurrency)
        self.epochs: dict[str, str] = {}
        self.messages_in = 0
        self._room_at = -ROOM_CHECK_S
        self._room_failure = ""

    async def start(self) -> None:
        for stream in STREAM_BY_TYPE.values():
            info = await self._js.stream_info(stream)
            self.epochs[stream] = info.created.isoformat() if info.created else ""

    async def restart_feeds(self) -> None:
        await asyncio.gather(*(feed.restart() for feed in self._feeds.values()))

    async def close(self) -> None:
        for task in self._tickers.values():
            task.cancel()
        for feed in self._feeds.values():
            await feed.close()

    # -- diagnostics -----------------------------------------------------------------------

    def interest_count(self) -> int:
        """Subjects this process holds NATS interest in, across all streams."""
        return sum(len(feed.subjects) for feed in self._feeds.values())

    def feed_reconfigurations(self) -> int:
        """How often the shared consumers were replaced (interest changes), all streams."""
        return sum(feed.reconfigurations for feed in self._feeds.values())

    def channel_count(self) -> int:
        return len(self._channels)

    def channels(self) -> list[Channel]:
        """Every channel (a copy: safe to read from a metrics exporter's thread)."""
        return list(self._channels.values())

    def feeds(self) -> list[StreamFeed]:
        return list(self._feeds.values())

    def feed_failure(self) -> str:
        """Why some referenced subjects are not delivered right now; "" when all are."""
        return "; ".join(feed.failure for feed in self._feeds.values() if feed.failure)

    async def room_failure(self) -> str:
        """Which stream has no room for another consumer (shared feed or resume); "".

        Read from the broker at most once per ``ROOM_CHECK_S``: readiness probes call this.
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self._room_at < ROOM_CHECK_S:
            return self._room_failure
        full = []
        for stream in STREAM_BY_TYPE.values():
            info = await self._js.stream_info(stream)
            limit = info.config.max_consumers or -1
            if limit > 0 and (info.state.consumer_count or 0) >= limit:
                full.append(f"{stream} is at its limit of {limit} consumers")
        self._room_at, self._room_failure = loop.time(), "; ".join(full)
        return self._room_failure

    def epoch_for(self, data_type: DataType) -> str:
        return self.epochs.get(STREAM_BY_TYPE[data_type], "")

    # -- membership ------------------------------------------------------------------------

    def join(
        self,
        outbox: Outbox,
        data_type: DataType,
        symbol: str,
        frequency: str,
        fields: list[str] | None,
        *,
        hold: bool,
    ) -> Membership:
        """Add a member to the channel; with ``hold`` live items buffer until released.

        The NATS interest is referenced here; :meth:`sync_interest` makes it effective.
        """
        probe = Channel(data_type, symbol, frequency, fields)
        channel = self._channels.get(probe.key)
        created = channel is None
        if channel is None:
            channel = probe
            self._channels[channel.key] = channel
            index = self._wild if channel.wildcard else self._exact
            index.setdefault(channel.subject, []).append(channel)
        member = Membership(channel=channel, outbox=outbox, hold=[] if hold else None)
        channel.members.append(member)
        feed = self._feeds[data_type]
        if created:
            feed.acquire(channel.subject)
            if channel.throttle_ms is not None:
                self._ensure_ticker(channel.throttle_ms)
        # Already delivered: it starts at the feed's position (nothing has reached it yet).
        # Otherwise where the consumer change starts: see :meth:`settle_start`.
        member.start_seq = feed.last_seq if feed.covers(channel.subject) else -1
        return member

    async def sync_interest(self) -> None:
        """Return once every joined channel's subject is delivered by its stream's feed."""
        await asyncio.gather(*(feed.sync() for feed in self._feeds.values()))

    def settle_start(self, member: Membership) -> None:
        """After :meth:`sync_interest`: the start of a member whose subject was not delivered."""
        if member.start_seq < 0:
            channel = member.channel
            member.start_seq = self._feeds[channel.data_type].start_for(channel.subject)

    def leave(self, member: Membership) -> None:
        channel = member.channel
        with contextlib.suppress(ValueError):
            channel.members.remove(member)
        if channel.members or self._channels.get(channel.key) is not channel:
            return
        del self._channels[channel.key]
        index = self._wild if channel.wildcard else self._exact
        siblings = index.get(channel.subject, [])
        siblings.remove(channel)
        if not siblings:
            index.pop(channel.subject, None)
        feed = self._feeds[channel.data_type]
        feed.release(channel.subject)
        if not feed.is_referenced(channel.subject):
            self._latest.pop(channel.subject, None)

    # -- the hot path ----------------------------------------------------------------------

    def _on_message(self, subject: str, seq: int, broker_ms: int, data: bytes) -> None:
        self.messages_in += 1
        payload = data.decode()
        channels = self._exact.get(subject)
        if channels is not None:
            self._latest[subject] = (seq, broker_ms, payload)
            now = CLOCK.now_iso()
            for channel in channels:
                self._route(channel, subject, seq, broker_ms, payload, now)
        if self._wild:
            head, _, market = subject.rpartition(".")
            wild = self._wild.get(head.rpartition(".")[0] + ".*." + market)
            if wild is not None:
                now = CLOCK.now_iso()
                for channel in wild:
                    self._route(channel, subject, seq, broker_ms, payload, now)

    def _route(
        self, channel: Channel, subject: str, seq: int, broker_ms: int, payload: str, now: str
    ) -> None:
        if channel.throttle_ms is None:
            channel.deliver(channel.encode(subject, seq, broker_ms, payload, now))
        else:
            channel.latest[subject] = (seq, broker_ms, payload)
            self._dirty.setdefault(channel.throttle_ms, set()).add(channel)

    # -- throttled delivery: the latest value per symbol per interval ------------------------

    def _ensure_ticker(self, interval_ms: int) -> None:
        task = self._tickers.get(interval_ms)
        if task is None or task.done():
            self._tickers[interval_ms] = asyncio.create_task(self._tick(interval_ms))

    async def _tick(self, interval_ms: int) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval_ms / 1000
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            dirty = self._dirty.pop(interval_ms, None)
            if not dirty:
                continue
            now = CLOCK.now_iso()
            for channel in dirty:
                latest, channel.latest = channel.latest, {}
                for subject, (seq, broker_ms, payload) in latest.items():
                    channel.deliver(channel.encode(subject, seq, broker_ms, payload, now))

    # -- latest values -----------------------------------------------------------------------

    async def latest(self, data_type: DataType, subject: str) -> Snapshot | None:
        """The last message on ``subject``: from the cache, else a JetStream direct get."""
        cached = self._latest.get(subject)
        if cached is not None:
            return Snapshot(subject, *cached)
        return await self._fetch_latest(data_type, subject)

    async def latest_many(self, data_type: DataType, subjects: list[str]) -> list[Snapshot]:
        """``latest`` for each subject, in order, skipping subjects with no message.

        Cached subjects are answered inline: a market-wide snapshot reads thousands, and a
        coroutine per subject cost more than the lookup (docs/benchmarks.md, "Snapshot path").
        """
        cache = self._latest
        cached = [cache.get(subject) for subject in subjects]
        missing = [subject for subject, hit in zip(subjects, cached, strict=True) if hit is None]
        fetched: dict[str, Snapshot | None] = {}
        if missing:
            found = await asyncio.gather(*(self._fetch_latest(data_type, s) for s in missing))
            fetched = dict(zip(missing, found, strict=True))
        snaps: list[Snapshot] = []
        for subject, hit in zip(subjects, cached, strict=True):
            snap = Snapshot(subject, *hit) if hit is not None else fetched[subject]
            if snap is not None:
                snaps.append(snap)
        return snaps

    async def _fetch_latest(self, data_type: DataType, subject: str) -> Snapshot | None:
        async with self._snapshot_slots:
            try:
                raw = await self._js.get_last_msg(STREAM_BY_TYPE[data_type], subject, direct=True)
            except NotFoundError:
                return None
        if raw.seq is None or raw.data is None:
            return None
        broker_ms = int(raw.time.timestamp() * 1000) if raw.time else 0
        return Snapshot(subject, raw.seq, broker_ms, raw.data.decode())
