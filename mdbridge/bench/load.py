"""One load run: spawn the client workers, connect, subscribe, measure a window, merge.

Scenarios compose these steps; this module also prints the progress line (one per second
to stderr) and measures CPU of every process involved over the measured window.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient

from mdbridge.bench._proc import Child
from mdbridge.bench.config import BenchConfig
from mdbridge.bench.errors import BenchError
from mdbridge.bench.histogram import Histogram
from mdbridge.bench.monitor import CpuWindow, cpu_seconds
from mdbridge.bench.targets import BenchNats, Target

CDF_POINTS = 160


@dataclass
class Bench:
    """What every scenario shares: settings, the broker, the publisher, the targets."""

    config: BenchConfig
    nats: BenchNats
    nc: NatsClient
    publisher: Child
    universe: list[str]
    targets: dict[str, Target]
    notes: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def nats_pids(self) -> list[int]:
        return self.nats.pids()

    async def publish(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run a publisher command to its end; its failure fails the scenario."""
        done = await self.publisher.request(command, "published", timeout)
        if "error" in done:
            raise BenchError(f"publisher: {done['error']}")
        return done

    async def stop_publishing(self) -> None:
        stopped = await self.publisher.request({"cmd": "stop"}, "stopped", 60)
        if stopped.get("errors"):
            raise BenchError(f"publisher: {stopped['errors'][0]}")


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


class LoadRun:
    def __init__(
        self,
        bench: Bench,
        target: Target,
        conns: list[list[str]],
        *,
        label: str,
        extra: dict[str, Any] | None = None,
        expect: int = 0,
    ) -> None:
        self.bench = bench
        self.target = target
        self.conns = conns
        self.label = label
        self.extra = extra or {}
        self.expect = expect
        self.workers: list[Child] = []
        self._progress: asyncio.Task[None] | None = None
        self._cpu: dict[str, CpuWindow] = {}

    # -- phases ----------------------------------------------------------------------------

    async def open(self) -> None:
        config = self.bench.config
        procs = max(1, min(config.client_procs, len(self.conns)))
        sources = [f"127.0.0.{2 + k}" for k in range(config.sources)]
        timeout = 60 + len(self.conns) / 100
        for i in range(procs):
            plan = {
                "protocol": self.target.protocol,
                "host": self.target.host,
                "port": self.target.port,
                "path": self.target.path,
                "deflate": self.target.deflate,
                "conns": self.conns[i::procs],
                "sources": sources[i::procs] or sources,
                "subscribe_extra": self.extra,
                "expect_messages": self.expect,
                "ready_timeout_s": timeout,
            }
            self.workers.append(await Child.spawn(f"worker{i}", "mdbridge.bench.worker", plan))
        self._progress = asyncio.create_task(self._print_progress())
        connected = await asyncio.gather(*(w.wait_for("connected", timeout) for w in self.workers))
        failed = sum(int(e["failed"]) for e in connected)
        ready = await asyncio.gather(*(w.wait_for("ready", timeout) for w in self.workers))
        if failed:
            self.bench.say(f"[{self.label}] {failed} connections failed")
        if sum(int(e["ready"]) for e in ready) == 0 and self.conns:
            raise BenchError(f"{self.label}: no connection became ready")

    async def measure(self, interval_s: float = 0.0) -> None:
        """Start the window; ``interval_s``: each symbol's update interval (for "behind")."""
        command = {"cmd": "measure", "interval_us": round(interval_s * 1e6)}
        await asyncio.gather(*(w.request(command, "measuring", 30) for w in self.workers))
        self.start_cpu()

    def start_cpu(self) -> None:
        """CPU of every process involved from now until :meth:`report`."""
        self._cpu = {
            "target": CpuWindow(self.target.pids()).start(),
            "nats": CpuWindow(self.bench.nats_pids()).start(),
            "clients": CpuWindow([w.pid for w in self.workers]).start(),
            "publisher": CpuWindow([self.bench.publisher.pid]).start(),
        }

    async def report(self) -> dict[str, Any]:
        reports = await asyncio.gather(
            *(w.request({"cmd": "report"}, "report", 60) for w in self.workers)
        )
        cpu = {name: window.percent() for name, window in self._cpu.items()}
        return merge(reports, cpu, len(self.workers))

    async def wait_quiet(self, quiet_s: float, timeout: float) -> None:
        """Until no worker received anything for ``quiet_s`` (a burst has drained)."""
        deadline = time.monotonic() + timeout
        last_total, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            total = sum(int(w.latest.get("tick", {}).get("msgs", 0)) for w in self.workers)
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return

    async def close(self) -> None:
        if self._progress is not None:
            self._progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._progress
        await asyncio.gather(*(w.close() for w in self.workers), return_exceptions=True)
        self.workers = []

    # -- progress ----------------------------------------------------------------------------

    async def _print_progress(self) -> None:
        pids = self.target.pids()
        client_pids = [w.pid for w in self.workers]
        began = time.monotonic()
        last_cpu, last_client_cpu, last_at = cpu_seconds(pids), cpu_seconds(client_pids), began
        while True:
            await asyncio.sleep(1.0)
            ticks = [w.latest["tick"] for w in self.workers if "tick" in w.latest]
            now = time.monotonic()
            cpu, client_cpu = cpu_seconds(pids), cpu_seconds(client_pids)
            span = now - last_at
            target_pct = max(0.0, (cpu - last_cpu) / span * 100)
            client_pct = max(0.0, (client_cpu - last_client_cpu) / span * 100)
            last_cpu, last_client_cpu, last_at = cpu, client_cpu, now
            rate = sum(float(t["msgs_s"]) for t in ticks)
            p99 = max((float(t["p99_ms"]) for t in ticks), default=0.0)
            self.bench.say(
                f"[{self.label}] {now - began:5.0f}s  open {sum(int(t['open']) for t in ticks)}"
                f"  ready {sum(int(t['ready']) for t in ticks)}  recv {_fmt_rate(rate)}/s"
                f"  p99 {p99:.2f} ms  cpu {self.target.name} {target_pct:.0f}%"
                f"  clients {client_pct:.0f}%  errors {sum(int(t['errors']) for t in ticks)}"
            )


def merge(reports: list[dict[str, Any]], cpu: dict[str, float], procs: int) -> dict[str, Any]:
    hist, stale, behind = Histogram(), Histogram(), Histogram()
    for report in reports:
        hist.merge(Histogram.from_json(report["hist"]))
        if "stale" in report:
            stale.merge(Histogram.from_json(report["stale"]))
        if "behind" in report:
            behind.merge(Histogram.from_json(report["behind"]))
    window = max((float(r["window_s"]) for r in reports), default=0.0) or 1e-9
    msgs = sum(int(r["msgs"]) for r in reports)
    firsts = [int(r["first_ns"]) for r in reports if r["first_ns"]]
    sent = [int(r["subscribe_sent_ns"]) for r in reports if r["subscribe_sent_ns"]]
    cdf = hist.cdf()
    step = max(1, len(cdf) // CDF_POINTS)
    return {
        "delivered": msgs,
        "window_s": round(window, 3),
        "delivered_per_s": round(msgs / window, 1),
        "frames_per_s": round(sum(int(r["frames"]) for r in reports) / window, 1),
        "payload_bytes_per_s": round(sum(int(r["payload_bytes"]) for r in reports) / window),
        "wire_bytes_per_s": round(sum(int(r["wire_bytes"]) for r in reports) / window),
        "latency_ms": hist.summary_ms(),
        "staleness_ms": stale.summary_ms(),
        "behind_ms": behind.summary_ms(),
        "cdf_ms": [[round(v / 1000, 4), round(f, 5)] for v, f in cdf[::step]],
        "cpu_pct": cpu,
        "client_procs": procs,
        "open": sum(int(r["open"]) for r in reports),
        "deflate_conns": sum(int(r["deflate"]) for r in reports),
        "errors": sum(int(r["errors"]) for r in reports),
        "error_samples": [s for r in reports for s in r["error_samples"]][:5],
        "heartbeats": sum(int(r["heartbeats"]) for r in reports),
        "acked": sum(int(r["acked"]) for r in reports),
        "recovered": [x for r in reports for x in r["recovered"]][:3],
        "first_ns": min(firsts, default=0),
        "last_ns": max((int(r["last_ns"]) for r in reports), default=0),
        "subscribe_sent_ns": min(sent, default=0),
    }
