"""A load-generator process: opens its share of the connections and counts what arrives.

Run by the bench as ``python -m mdbridge.bench.worker``; the plan comes as the first JSON
line on stdin, then commands (``measure``, ``report``, ``close``, ``exit``). It reports a
``tick`` every second and its own CPU time, so the bench can show the client is not the
bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import uvloop

from mdbridge.bench._proc import ChildIO
from mdbridge.bench._wire import WsClientProtocol
from mdbridge.bench.sessions import SESSIONS, Session, Tally
from mdbridge.limits import raise_fd_limit

CONNECT_TIMEOUT_S = 30.0
STALENESS_PERIOD_S = 0.25


class Worker:
    def __init__(self, plan: dict[str, Any], io: ChildIO) -> None:
        self.plan = plan
        self.io = io
        self.tally = Tally()
        self.sessions: list[Session] = []
        self.protocols: list[WsClientProtocol] = []
        self.window_started = time.monotonic()
        self.wire_base = 0
        self.tally.expect = int(plan.get("expect_messages") or 0)
        self.tally.on_done = lambda: io.emit(
            "done", msgs=self.tally.msgs, errors=self.tally.errors, last_ns=self.tally.last_ns
        )

    async def connect_all(self) -> None:
        plan = self.plan
        session_cls = SESSIONS[plan["protocol"]]
        sources: list[str] = plan.get("sources") or ["127.0.0.1"]
        slots = asyncio.Semaphore(int(plan.get("concurrency", 64)))
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = plan.get("subscribe_extra") or {}

        async def open_one(index: int, symbols: list[str]) -> None:
            session = session_cls(self.tally, symbols, extra)
            source = sources[index % len(sources)]
            async with slots:
                try:
                    _, proto = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: WsClientProtocol(
                                plan["host"],
                                plan["port"],
                                plan["path"],
                                session,
                                deflate=bool(plan.get("deflate")),
                            ),
                            plan["host"],
                            plan["port"],
                            local_addr=(source, 0),
                        ),
                        CONNECT_TIMEOUT_S,
                    )
                    await asyncio.wait_for(proto.opened, CONNECT_TIMEOUT_S)
                except (OSError, TimeoutError, Exception) as exc:
                    self.tally.failed += 1
                    self.tally.error(f"connect: {exc!r}")
                    return
            self.sessions.append(session)
            self.protocols.append(proto)

        await asyncio.gather(*(open_one(i, s) for i, s in enumerate(plan["conns"])))
        self.io.emit("connected", ok=len(self.protocols), failed=self.tally.failed)

    async def wait_ready(self) -> None:
        want = len(self.sessions)
        self.tally.ready_wanted = want
        if self.tally.ready >= want:
            self.tally.all_ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.tally.all_ready.wait(), float(self.plan.get("ready_timeout_s", 60))
            )
        self.io.emit("ready", ready=self.tally.ready, wanted=want, errors=self.tally.errors)

    def wire_bytes(self) -> int:
        return sum(p.bytes_in for p in self.protocols)

    def measure(self, interval_us: int = 0) -> None:
        self.tally.reset_window()
        self.tally.interval_us = interval_us
        self.window_started = time.monotonic()
        self.wire_base = self.wire_bytes()

    def report(self) -> dict[str, Any]:
        t = self.tally
        return {
            "msgs": t.msgs,
            "frames": t.frames,
            "payload_bytes": t.payload_bytes,
            "wire_bytes": self.wire_bytes() - self.wire_base,
            "window_s": time.monotonic() - self.window_started,
            "first_ns": t.first_ns,
            "last_ns": t.last_ns,
            "hist": t.hist.to_json(),
            "stale": t.stale.to_json(),
            "behind": t.behind.to_json(),
            "errors": t.errors,
            "error_samples": t.error_samples,
            "heartbeats": t.heartbeats,
            "acked": t.acked,
            "recovered": t.recovered[:3],
            "subscribe_sent_ns": t.subscribe_sent_ns,
            "open": sum(1 for s in self.sessions if not s.closed),
            "deflate": sum(1 for p in self.protocols if p.deflate),
            "cpu_s": time.process_time(),
        }

    async def ticks(self) -> None:
        last_msgs = 0
        while True:
            await asyncio.sleep(1.0)
            t = self.tally
            self.io.emit(
                "tick",
                msgs=t.msgs,
                msgs_s=t.msgs - last_msgs if t.msgs >= last_msgs else t.msgs,
                p50_ms=round(t.hist.percentile(50) / 1000, 3),
                p99_ms=round(t.hist.percentile(99) / 1000, 3),
                open=sum(1 for s in self.sessions if not s.closed),
                ready=t.ready,
                errors=t.errors,
                heartbeats=t.heartbeats,
                cpu_s=time.process_time(),
            )
            last_msgs = t.msgs

    async def staleness(self) -> None:
        """Sample every (connection, symbol)'s newest value age, four times a second."""
        while True:
            await asyncio.sleep(STALENESS_PERIOD_S)
            self.tally.sample_staleness(time.time_ns() // 1000)

    async def close_all(self) -> None:
        for proto in self.protocols:
            proto.close()
        closing = [p.closed for p in self.protocols if not p.closed.done()]
        if closing:
            await asyncio.wait(closing, timeout=5)
        for proto in self.protocols:
            proto.abort()


async def main() -> None:
    raise_fd_limit()
    io = await ChildIO.open()
    plan = await io.read()
    if plan is None:
        return
    worker = Worker(plan, io)
    ticker = asyncio.create_task(worker.ticks())
    sampler = asyncio.create_task(worker.staleness())
    try:
        await worker.connect_all()
        await worker.wait_ready()
        while (command := await io.read()) is not None:
            cmd = command.get("cmd")
            if cmd == "measure":
                worker.measure(int(command.get("interval_us", 0)))
                io.emit("measuring")
            elif cmd == "report":
                io.emit("report", **worker.report())
            elif cmd == "close":
                await worker.close_all()
                io.emit("closed")
            elif cmd == "exit":
                break
    finally:
        for task in (ticker, sampler):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await worker.close_all()


if __name__ == "__main__":
    uvloop.run(main())
