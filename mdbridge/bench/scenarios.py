"""The live-data scenarios: hold, fan-out (real cadence and accelerated), throughput, burst.

Each runs one target at a time with the same generator and the same publisher, so the
three targets are compared on identical load.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mdbridge.bench.config import FanoutCase
from mdbridge.bench.load import Bench, LoadRun
from mdbridge.bench.monitor import CpuWindow, rss_bytes
from mdbridge.bench.startstate import start_state
from mdbridge.bench.targets import Target

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 60.0


def pick_symbols(
    universe: list[str], clients: int, per_client: int, pool: int, seed: int
) -> list[list[str]]:
    """Each client's symbols: distinct, uniformly drawn from the pool, reproducible."""
    rng = random.Random(seed)
    choices = universe[:pool] if pool else universe
    k = min(per_client, len(choices))
    return [rng.sample(choices, k) for _ in range(clients)]


async def hold(bench: Bench, target: Target) -> dict[str, Any]:
    """N idle connections with heartbeats: memory per connection and idle CPU."""
    n = bench.config.hold_connections
    pids = target.pids()
    before = rss_bytes(pids)
    run = LoadRun(bench, target, [[] for _ in range(n)], label=f"hold {target.name} x{n}")
    try:
        began = time.monotonic()
        await run.open()
        connect_s = time.monotonic() - began
        await asyncio.sleep(bench.config.settle_s)
        await run.measure()
        cpu = CpuWindow(pids).start()
        await asyncio.sleep(bench.config.hold_s)
        report = await run.report()
        after = rss_bytes(pids)
        idle_cpu = cpu.percent()
    finally:
        await run.close()
    opened = int(report["open"])
    return {
        "connections": n,
        "open": opened,
        "connect_s": round(connect_s, 2),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "rss_per_conn_kb": round((after - before) / max(opened, 1) / 1024, 2),
        "cpu_pct": idle_cpu,
        "client_cpu_pct": report["cpu_pct"]["clients"],
        "heartbeats": report["heartbeats"],
        "errors": report["errors"],
        "error_samples": report["error_samples"],
    }


async def fanout_case(
    bench: Bench,
    target: Target,
    case: FanoutCase,
    on_window: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """N clients x K symbols while the publisher runs at a fixed rate."""
    config = bench.config
    conns = pick_symbols(
        bench.universe, case.clients, case.symbols_per_client, case.pool, config.seed
    )
    published = list(range(case.pool or len(bench.universe)))
    subscriptions = sum(len(c) for c in conns)
    expected = case.rate * subscriptions / len(published)
    label = f"{case.label} {target.name} {case.clients}x{case.symbols_per_client}"
    state = await start_state(target)
    run = LoadRun(bench, target, conns, label=label)
    try:
        await run.open()
        bench.publisher.send({"cmd": "rate", "rate": case.rate, "symbols": published})
        await asyncio.sleep(config.warmup_s)
        await run.measure(interval_s=len(published) / case.rate)
        tick_before = bench.publisher.latest.get("tick", {})
        if on_window is not None:
            await on_window()
        await asyncio.sleep(config.window_s)
        report = await run.report()
        tick_after = bench.publisher.latest.get("tick", {})
    finally:
        try:
            await run.close()
        finally:
            await bench.stop_publishing()
    delivered = float(report["delivered_per_s"])
    span = float(tick_after.get("elapsed", 0)) - float(tick_before.get("elapsed", 0))
    sent = int(tick_after.get("published", 0)) - int(tick_before.get("published", 0))
    target_cpu = float(report["cpu_pct"]["target"])
    return {
        "target": target.name,
        "case": case.label,
        "clients": case.clients,
        "symbols_per_client": case.symbols_per_client,
        "pool": case.pool or len(bench.universe),
        "rate_in": case.rate,
        "rate_achieved": round(sent / span, 1) if span > 0 else 0.0,  # what the publisher held
        "expected_per_s": round(expected, 1),
        "delivered_ratio": round(delivered / expected, 4) if expected else 0.0,
        # Load-independent efficiency: what one fully available core would deliver. The
        # machine is shared, so the target often gets less than a core.
        "delivered_per_cpu_s": round(delivered / (target_cpu / 100)) if target_cpu else 0,
        # a client holding every value the moment it is published still holds values up to
        # this old: each symbol is republished once per interval (the staleness floor)
        "update_interval_ms": round(1000 * len(published) / case.rate, 1),
        "start_state": state,
        **report,
    }


async def _cases(bench: Bench, target: Target, cases: tuple[FanoutCase, ...]) -> list[Any]:
    """Every case, each isolated: a failed case is recorded and the next one runs."""
    rows: list[Any] = []
    for case in cases:
        try:
            rows.append(await fanout_case(bench, target, case))
        except Exception as exc:
            logger.exception("case %s %s failed", target.name, case)
            rows.append({"target": target.name, "case": case.label, "error": repr(exc)})
    return rows


async def fanout(bench: Bench, target: Target) -> list[dict[str, Any]]:
    return await _cases(bench, target, bench.config.fanout)


async def throughput(bench: Bench, target: Target) -> list[dict[str, Any]]:
    return await _cases(bench, target, bench.config.throughput)


async def burst(bench: Bench, target: Target) -> dict[str, Any]:
    """A 09:30-like burst: ``burst_count`` updates across the market within a second."""
    config = bench.config
    m = len(bench.universe)
    conns = pick_symbols(bench.universe, config.burst_clients, config.burst_symbols, 0, config.seed)
    count = config.burst_count
    index = {s: i for i, s in enumerate(bench.universe)}
    per_symbol = [count // m + (1 if i < count % m else 0) for i in range(m)]
    expected = sum(per_symbol[index[s]] for c in conns for s in c)
    label = f"burst {target.name} {config.burst_clients}x{config.burst_symbols}"
    state = await start_state(target)
    run = LoadRun(bench, target, conns, label=label)
    try:
        await run.open()
        await asyncio.sleep(bench.config.settle_s)
        await run.measure()
        started_ns = time.time_ns()
        command = {"cmd": "burst", "count": count, "within_s": config.burst_within_s}
        published = await bench.publish(command, 60)
        await run.wait_quiet(config.quiet_s, DRAIN_TIMEOUT_S)
        report = await run.report()
    finally:
        await run.close()
    drain_s = (report["last_ns"] - started_ns) / 1e9 if report["last_ns"] else 0.0
    return {
        "target": target.name,
        "clients": config.burst_clients,
        "symbols_per_client": config.burst_symbols,
        "burst": count,
        "publish_s": published["elapsed_s"],
        "expected": expected,
        "delivered_ratio": round(report["delivered"] / expected, 4) if expected else 0.0,
        "drain_s": round(drain_s, 3),
        "start_state": state,
        **report,
    }
