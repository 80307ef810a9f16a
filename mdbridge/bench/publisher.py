"""The bench's publisher process: a controllable market feed into JetStream.

Run as ``python -m mdbridge.bench.publisher``. It provisions the streams and the symbol
directory, then publishes quote bodies (core NATS publishes; the ``MD_QUOTE`` stream stores
them) on command: a steady ``rate`` for a duration, a ``burst`` of N within a window, or a
``fill`` of N messages as fast as possible for replay. The simulator models a market; this
publisher holds a rate exactly, which is what a benchmark needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import nats
import uvloop
from nats.aio.client import Client as NatsClient

from mdbridge.bench._proc import ChildIO
from mdbridge.bench.universe import PUB_MARKER, quote_subject, quote_tail, symbol_info, symbols
from schemas import STREAM_BY_TYPE, SYMBOLS_BUCKET, DataType
from services.provision import ensure_streams
from services.publisher import MSG_ID_HEADER

logger = logging.getLogger(__name__)

VARIANTS = 4  # price variants per symbol, so consecutive quotes differ
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TICK_S = 0.001
KV_CHUNK = 500


class Feed:
    def __init__(self, nc: NatsClient, universe: list[str], io: ChildIO, headers: bool) -> None:
        self.nc = nc
        self.headers = headers
        self.io = io
        self.universe = universe
        self.subjects = [quote_subject(s) for s in universe]
        self.tails = [[quote_tail(s, v) for v in range(VARIANTS)] for s in universe]
        self.published = 0
        self.stopping = False  # checked by the loops: nats-py swallows task cancellation
        self._turn = 0

    async def _publish(self, index: int) -> None:
        now_us = time.time_ns() // 1000
        tails = self.tails[index]
        turn = self._turn
        self._turn += 1
        body = PUB_MARKER + b"%d" % now_us + tails[turn % VARIANTS]
        if self.headers:  # what adapters send: an idempotency id and a trace context
            headers = {MSG_ID_HEADER: f"{self.universe[index]}-{turn}", "traceparent": TRACE}
            await self.nc.publish(self.subjects[index], body, headers=headers)
        else:
            await self.nc.publish(self.subjects[index], body)
        self.published += 1

    async def paced(self, order: list[int], rate: float, count: int, duration: float) -> int:
        """Publish round-robin over ``order`` at ``rate``/s until ``count`` or ``duration``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        n = len(order)
        report_at = start + 1.0
        while True:
            now = loop.time()
            elapsed = now - start
            if (duration and elapsed >= duration) or (count and sent >= count) or self.stopping:
                break
            due = int(rate * elapsed) + 1
            if count:
                due = min(due, count)
            while sent < due and not self.stopping:
                await self._publish(order[sent % n])
                sent += 1
            if now >= report_at:
                self.io.emit("tick", published=sent, elapsed=round(elapsed, 3))
                report_at += 1.0
            await asyncio.sleep(TICK_S)
        await self.nc.flush()
        return sent

    async def fill(self, order: list[int], count: int) -> int:
        n = len(order)
        sent = 0
        while sent < count and not self.stopping:
            await self._publish(order[sent % n])
            sent += 1
        await self.nc.flush()
        return sent


async def put_directory(nc: NatsClient, universe: list[str]) -> None:
    kv = await nc.jetstream().key_value(SYMBOLS_BUCKET)
    for i in range(0, len(universe), KV_CHUNK):
        chunk = universe[i : i + KV_CHUNK]
        await asyncio.gather(*(kv.put(s, symbol_info(s).model_dump_json().encode()) for s in chunk))


async def stream_last_seq(nc: NatsClient) -> int:
    info = await nc.jetstream().stream_info(STREAM_BY_TYPE[DataType.QUOTE])
    return int(info.state.last_seq)


async def wait_stored(nc: NatsClient, seq: int, timeout: float = 60.0) -> int:
    """Wait until the stream holds everything up to ``seq`` (core publishes are not acked)."""
    deadline = time.monotonic() + timeout
    last = await stream_last_seq(nc)
    while last < seq and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        last = await stream_last_seq(nc)
    return last


async def serve(io: ChildIO, plan: dict[str, Any]) -> None:  # noqa: C901 (one flow, top to bottom: see pyproject)
    nc = await nats.connect(
        plan["nats_url"],
        pending_size=8 * 1024 * 1024,
        name="bench-pub",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
    )
    await ensure_streams(nc.jetstream())
    universe = symbols(int(plan["universe"]))
    if plan.get("directory", True):
        await put_directory(nc, universe)
    feed = Feed(nc, universe, io, bool(plan.get("headers", True)))
    io.emit("ready", symbols=len(universe), last_seq=await stream_last_seq(nc))
    running: asyncio.Task[None] | None = None
    failures: list[str] = []

    def order_of(command: dict[str, Any]) -> list[int]:
        picked = command.get("symbols")
        return [int(i) for i in picked] if picked else list(range(len(universe)))

    async def run(command: dict[str, Any]) -> None:
        began = time.monotonic()
        cpu = time.process_time()
        kind = command["cmd"]
        sent_before = feed.published
        try:
            first = await stream_last_seq(nc) + 1
            order = order_of(command)
            if kind == "fill":
                sent = await feed.fill(order, int(command["count"]))
            else:
                rate = float(command["rate"]) if kind == "rate" else 0.0
                count = int(command.get("count") or 0)
                if kind == "burst":
                    rate = count / float(command["within_s"])
                duration = float(command.get("duration_s") or 0)
                sent = await feed.paced(order, rate, count, duration)
            last = await wait_stored(nc, first + sent - 1) if command.get("stored") else 0
        except Exception as exc:  # reported, so that the bench records it and goes on
            logger.exception("publish %s failed", kind)
            failures.append(repr(exc))
            io.emit("published", cmd=kind, error=repr(exc), count=feed.published - sent_before)
            return
        io.emit(
            "published",
            cmd=kind,
            count=sent,
            elapsed_s=round(time.monotonic() - began, 4),
            first_seq=first,
            last_seq=last,
            cpu_s=round(time.process_time() - cpu, 3),
        )

    try:
        while (command := await io.read()) is not None:
            cmd = command.get("cmd")
            if cmd in ("rate", "burst", "fill"):
                if running is not None and not running.done():
                    io.emit("error", message="a publish is already running")
                    continue
                running = asyncio.create_task(run(command))
            elif cmd == "stop":
                if running is not None:
                    feed.stopping = True
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                    feed.stopping = False
                io.emit("stopped", published=feed.published, errors=failures[:])
                failures.clear()
            elif cmd == "exit":
                break
    finally:
        if running is not None:
            running.cancel()
        await nc.drain()


async def main() -> None:
    io = await ChildIO.open()
    plan = await io.read()
    if plan is not None:
        await serve(io, plan)


if __name__ == "__main__":
    uvloop.run(main())
