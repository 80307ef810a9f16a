"""``mdbridge record``: chosen subjects from JetStream into a recording file.

One ordered consumer per stream the subjects live in, each filtered on its subjects. Market
data is recorded from now on; a KV bucket's subjects (the symbol directory) from their
current values, so a recording carries the directory it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from pathlib import Path

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from schemas import SYMBOLS_BUCKET, epoch_ms_to_iso
from services.errors import SourceError
from services.replay.recording import Record, RecordingWriter

logger = logging.getLogger(__name__)

DEFAULT_SUBJECTS = (
    "md.quote.>",
    "md.kline.>",
    "md.trade.>",
    "md.depth.>",
    "md.status.symbol.>",
    f"$KV.{SYMBOLS_BUCKET}.>",
)


async def record(
    nc: NatsClient,
    path: Path,
    subjects: list[str],
    stop: asyncio.Event,
    *,
    duration_s: float | None = None,
    max_messages: int | None = None,
    subscribed: asyncio.Event | None = None,
) -> int:
    """Record until ``stop``, ``duration_s`` or ``max_messages``; returns how many were written."""
    js = nc.jetstream()
    by_stream: dict[str, list[str]] = defaultdict(list)
    for subject in subjects:
        try:
            by_stream[await js.find_stream_name_by_subject(subject)].append(subject)
        except NotFoundError:
            raise SourceError(f"no stream holds {subject!r}") from None
    started_ns = time.time_ns()
    done = asyncio.Event()
    with RecordingWriter(path, subjects, started_ns, epoch_ms_to_iso(started_ns // 1e6)) as writer:

        async def on_message(msg: Msg) -> None:
            if done.is_set():
                return
            stamp = msg.metadata.timestamp
            writer.write(
                Record(
                    t_ns=int(stamp.timestamp() * 1e6) * 1000,
                    subject=msg.subject,
                    headers=dict(msg.headers) if msg.headers else None,
                    data=msg.data,
                )
            )
            if max_messages is not None and writer.count >= max_messages:
                done.set()

        subscriptions = []
        try:
            for stream, filters in by_stream.items():
                kv = stream.startswith("KV_")  # the current values, then changes
                config = ConsumerConfig(
                    filter_subjects=filters,
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if kv else DeliverPolicy.NEW,
                )
                subscriptions.append(
                    await js.subscribe(
                        filters[0],
                        stream=stream,
                        cb=on_message,
                        ordered_consumer=True,
                        config=config,
                    )
                )
            logger.info("recording %s from %d streams into %s", subjects, len(by_stream), path)
            if subscribed is not None:
                subscribed.set()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(done.wait())]
            try:
                await asyncio.wait(waits, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        finally:
            done.set()
            for sub in subscriptions:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        logger.info("recorded %d messages into %s", writer.count, path)
        return writer.count
