"""A bench run: the broker, the publisher and the targets up, scenarios in order, report.

Every scenario is isolated: one that fails is recorded with its error and the run goes on,
so a long run always ends with a report.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats

from mdbridge.bench import ingest, openingbell, replay, scenarios, tuning
from mdbridge.bench._proc import Child
from mdbridge.bench.config import SCENARIOS, BenchConfig
from mdbridge.bench.load import Bench
from mdbridge.bench.monitor import load_average
from mdbridge.bench.profile import profile
from mdbridge.bench.report import write_report
from mdbridge.bench.targets import BroadcasterTarget, Target, nats_ws_target, start_nats
from mdbridge.bench.universe import symbols
from mdbridge.limits import raise_fd_limit
from mdbridge.natsserver import free_port
from schemas import now_iso

logger = logging.getLogger(__name__)

PerTarget = Callable[[Bench, Target], Awaitable[Any]]
Whole = Callable[[Bench], Awaitable[Any]]

PER_TARGET: dict[str, PerTarget] = {
    "hold": scenarios.hold,
    "fanout": scenarios.fanout,
    "throughput": scenarios.throughput,
    "burst": scenarios.burst,
    "opening_bell": openingbell.opening_bell,
}
WHOLE: dict[str, Whole] = {
    "resume": replay.resume,
    "ack": replay.ack,
    "compression": tuning.compression,
    "ws_impl": tuning.ws_impl,
    "event_loop": tuning.event_loop,
    "workers": tuning.workers,
    "gc": tuning.gc,
    "profile": profile,
    "ingest": ingest.ingest,
}
PUBLISHER_READY_S = 300.0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _build_targets(bench: Bench) -> dict[str, Target]:
    config = bench.config
    built: dict[str, Target] = {}
    for name in config.targets:
        if name == "mdbridge":
            built[name] = tuning.bridge_target(bench, "mdbridge", {}, workers=config.bridge_workers)
        elif name == "nats_ws":
            built[name] = nats_ws_target(bench.nats)
        elif name == "broadcaster":
            built[name] = BroadcasterTarget(
                name="broadcaster",
                protocol="broadcaster",
                port=free_port(),
                nats_url=bench.nats.url,
                log_dir=config.out / "logs",
            )
    return built


async def _run_scenarios(bench: Bench) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in [n for n in SCENARIOS if n in bench.config.scenarios]:
        bench.say(f"== {name} ==")
        began = time.monotonic()
        try:
            if name in PER_TARGET:
                results[name] = {
                    t: await PER_TARGET[name](bench, target) for t, target in bench.targets.items()
                }
            else:
                results[name] = await WHOLE[name](bench)
        except Exception as exc:
            logger.exception("scenario %s failed", name)
            bench.say(f"[{name}] FAILED: {exc!r}")
            results[name] = {"error": repr(exc)}
        bench.say(f"== {name} done in {time.monotonic() - began:.0f}s ==")
    return results


async def run_bench(config: BenchConfig) -> dict[str, Any]:
    out = config.out
    (out / "logs").mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    began = time.monotonic()
    meta: dict[str, Any] = {
        "started": now_iso(),
        "load_before": load_average(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "config": _jsonable(dataclasses.asdict(config)),
    }
    with tempfile.TemporaryDirectory(prefix="mdbridge-bench-") as tmp:
        broker = start_nats(Path(tmp), ping_s=config.heartbeat_s)
        publisher: Child | None = None
        bench: Bench | None = None
        try:
            nc = await nats.connect(broker.url, name="bench")
            plan = {"nats_url": broker.url, "universe": config.universe, "headers": config.headers}
            publisher = await Child.spawn("publisher", "mdbridge.bench.publisher", plan)
            ready = await publisher.wait_for("ready", PUBLISHER_READY_S)
            universe = symbols(int(ready["symbols"]))
            bench = Bench(config, broker, nc, publisher, universe, {})
            bench.targets = _build_targets(bench)
            for target in bench.targets.values():
                await target.start()
            results = await _run_scenarios(bench)
        finally:
            if bench is not None:
                for target in bench.targets.values():
                    await target.stop()
            if publisher is not None:
                await publisher.close()
            if "nc" in locals():
                await nc.close()
            broker.server.stop()
            if broker.server.log_file is not None and broker.server.log_file.exists():
                shutil.copy(broker.server.log_file, out / "logs" / "nats.log")
    meta.update(
        finished=now_iso(), duration_s=round(time.monotonic() - began), load_after=load_average()
    )
    report = {"meta": meta, "scenarios": results}
    write_report(report, out)
    return report
