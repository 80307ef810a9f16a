"""The opening bell: the A-share morning's shape, against one target at a time.

09:15-09:25 the call auction (集合竞价) shows indicative snapshots at a low rate; at 09:25 its
result (every symbol once), then 09:25-09:30 is quiet; at 09:30 the whole market updates
within about a second (the day's busiest second), then the normal cadence (every symbol every
3 s). Times are compressed (``BellShape``): what is measured is how a target carries the
burst after a calm start, and how soon it is calm again. Each phase is its own measured
window, each until delivery has gone quiet: the auction, the bell, the cadence after it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mdbridge.bench.config import REAL_CADENCE_S
from mdbridge.bench.load import Bench, LoadRun
from mdbridge.bench.scenarios import DRAIN_TIMEOUT_S, pick_symbols
from mdbridge.bench.startstate import start_state
from mdbridge.bench.targets import Target


def _window(report: dict[str, Any], expected: int) -> dict[str, Any]:
    """What one phase's window shows: delivery, latency, staleness, CPU."""
    return {
        "expected": expected,
        "delivered": report["delivered"],
        "delivered_ratio": round(report["delivered"] / expected, 4) if expected else 0.0,
        "window_s": report["window_s"],
        "delivered_per_s": report["delivered_per_s"],
        "latency_ms": report["latency_ms"],
        "staleness_ms": report["staleness_ms"],
        "cpu_pct": report["cpu_pct"],
        "errors": report["errors"],
    }


def _deliveries(conns: list[list[str]], universe: list[str], published: int) -> int:
    """What ``published`` round-robin quotes over ``universe`` (the publisher's order) bring
    to the clients ``conns``: each symbol's share of the count, summed over subscriptions."""
    market = len(universe)
    index = {symbol: i for i, symbol in enumerate(universe)}
    full, rest = divmod(published, market)
    return sum(full + (index[s] < rest) for symbols in conns for s in symbols)


async def _paced(bench: Bench, rate: float, seconds: float) -> dict[str, Any]:
    """Every symbol round-robin at ``rate`` quotes/s for ``seconds``; until it is done."""
    command = {"cmd": "rate", "rate": rate, "duration_s": seconds}
    return await bench.publish(command, seconds + 60)


async def opening_bell(bench: Bench, target: Target) -> dict[str, Any]:
    config = bench.config
    shape = config.opening_bell
    universe = bench.universe
    market = len(universe)
    conns = pick_symbols(universe, shape.clients, shape.symbols, 0, config.seed)
    cadence_rate = market / REAL_CADENCE_S
    bell_count = market * shape.bell_updates
    label = f"opening_bell {target.name} {shape.clients}x{shape.symbols}"
    state = await start_state(target)
    run = LoadRun(bench, target, conns, label=label)
    try:
        await run.open()
        await asyncio.sleep(config.settle_s)

        await run.measure()  # 09:15-09:25: indicative snapshots at a low rate
        auction = await _paced(bench, shape.auction_rate, shape.auction_s)
        await run.wait_quiet(config.quiet_s, DRAIN_TIMEOUT_S)
        auction_row = _window(await run.report(), _deliveries(conns, universe, auction["count"]))
        # 09:25 the result (every symbol once), then the quiet before the open
        await bench.publish({"cmd": "burst", "count": market, "within_s": 1.0}, 60)
        await asyncio.sleep(shape.quiet_s)

        await run.measure()  # 09:30: the whole market within the bell
        started_ns = time.time_ns()
        command = {"cmd": "burst", "count": bell_count, "within_s": shape.bell_within_s}
        bell = await bench.publish(command, 60)
        await run.wait_quiet(config.quiet_s, DRAIN_TIMEOUT_S)
        report = await run.report()
        bell_row = _window(report, _deliveries(conns, universe, bell["count"]))
        drain_ns = report["last_ns"] - started_ns if report["last_ns"] else 0
        bell_row.update(
            updates=bell["count"], publish_s=bell["elapsed_s"], drain_s=round(drain_ns / 1e9, 3)
        )

        await run.measure()  # then the normal cadence: is the target calm again?
        cadence = await _paced(bench, cadence_rate, shape.cadence_s)
        await run.wait_quiet(config.quiet_s, DRAIN_TIMEOUT_S)
        cadence_row = _window(await run.report(), _deliveries(conns, universe, cadence["count"]))
        cadence_row["rate"] = round(cadence_rate, 1)
    finally:
        await run.close()
    auction_row["rate"] = shape.auction_rate
    return {
        "target": target.name,
        "clients": shape.clients,
        "symbols_per_client": shape.symbols,
        "market": market,
        "auction": auction_row,
        "bell": bell_row,
        "cadence": cadence_row,
        "errors": auction_row["errors"] + bell_row["errors"] + cadence_row["errors"],
        "start_state": state,
    }


def summary_lines(section: Any) -> list[str]:
    """The summary's table: one row per target, the bell's numbers beside the calm ones."""
    if not isinstance(section, dict) or not section or "error" in section:
        return []
    header = (
        "| target | auction p99 ms | bell updates | publish s | delivered ratio | drain s"
        " | bell p50 ms | bell p99 ms | bell staleness p99 ms | cadence p99 ms"
        " | cadence staleness p99 ms | errors |"
    )
    lines = ["", "## Opening bell", "", header, "|" + "---|" * 12]
    for row in section.values():
        if not isinstance(row, dict) or "error" in row:
            continue
        bell, auction, cadence = row["bell"], row["auction"], row["cadence"]
        cells = [
            row["target"], auction["latency_ms"]["p99"], bell["updates"], bell["publish_s"],
            bell["delivered_ratio"], bell["drain_s"], bell["latency_ms"]["p50"],
            bell["latency_ms"]["p99"], bell["staleness_ms"]["p99"], cadence["latency_ms"]["p99"],
            cadence["staleness_ms"]["p99"], row["errors"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines
