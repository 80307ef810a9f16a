"""Adapter ingest: one process publishes the whole market into JetStream as fast as it can.

Every message must be confirmed stored: each PubAck is checked (a duplicate is counted
apart) and the streams' last sequences are compared before and after, so a figure never
counts a message the broker did not keep. The scenario starts its own nats-server (file
storage, the project's stream configuration) so no bridge or consumer shares the broker.

Modes, side by side on identical messages (the simulator's quote and depth payloads):

- ``awaited``: raw nats-py, ``js.publish`` awaited one by one (a round trip per message);
- ``gather``: raw nats-py, ``window`` ``js.publish`` calls in flight via ``asyncio.gather``;
- ``publisher``: the adapters' own ``services.publisher.Publisher`` (``window`` in flight),
  with everything an adapter sends (``Nats-Msg-Id``, traceparent, hop times).

Each mode runs in a child process (``python -m mdbridge.bench.ingest``), on uvloop or on
asyncio's loop (the Windows adapter host has no uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.js import JetStreamContext
from nats.js.errors import APIError

from mdbridge.bench._proc import Child, ChildIO
from mdbridge.bench.load import Bench
from mdbridge.bench.monitor import cpu_seconds, load_average
from mdbridge.eventloop import run
from schemas import STREAM_BY_TYPE, DataType, TradingPhase, data_subject
from schemas.timefmt import SHANGHAI
from services.msgid import depth_id, quote_id
from services.provision import ensure_streams
from services.publisher import MSG_ID_HEADER, Publisher
from services.sim.market import SymbolMarket
from services.sim.universe import build_universe

MODES = ("awaited", "gather", "publisher")
STREAMS = (STREAM_BY_TYPE[DataType.QUOTE], STREAM_BY_TYPE[DataType.DEPTH])
SEED = 7
RESULT_TIMEOUT_S = 600.0
# a trading-day morning: every symbol shows a continuous-session quote and book
MARKET_TS_MS = int(datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class IngestPlan:
    """One measured run: ``messages`` over ``symbols`` symbols, ``window`` in flight."""

    nats_url: str
    mode: str
    symbols: int
    messages: int
    window: int
    loop: str = "uvloop"


Message = tuple[str, dict[str, Any], str]  # subject, payload, Nats-Msg-Id


def market(symbols: int) -> list[tuple[str, dict[str, Any]]]:
    """(subject, payload) of each symbol's quote and (not for an index) depth, once."""
    today = datetime.fromtimestamp(MARKET_TS_MS / 1000, SHANGHAI).date()
    out: list[tuple[str, dict[str, Any]]] = []
    for info in build_universe(SEED, symbols, today=today):
        snapshot = SymbolMarket(info, seed=SEED).step(MARKET_TS_MS, TradingPhase.CONTINUOUS)
        if snapshot is None:
            continue
        out.append((data_subject(DataType.QUOTE, info.symbol), snapshot.quote))
        if snapshot.depth:
            out.append((data_subject(DataType.DEPTH, info.symbol), snapshot.depth))
    return out


def messages(symbols: int, count: int, base_ms: int) -> Iterator[Message]:
    """``count`` messages round-robin over the market, each round a new exchange time.

    Payloads are reused (only encoding them is the adapter's cost); ids follow the data as
    an adapter builds them, unique per round so nothing is a duplicate by construction.
    """
    snapshot = market(symbols)
    for n in range(count):
        rnd, i = divmod(n, len(snapshot))
        subject, payload = snapshot[i]
        symbol = payload["symbol"]
        ts = base_ms + rnd
        msg_id = quote_id(symbol, ts) if "bids" not in payload else depth_id(symbol, ts)
        yield subject, payload, msg_id


@dataclass
class Counts:
    stored: int = 0
    duplicates: int = 0
    failed: int = 0


async def _awaited(js: JetStreamContext, batch: list[Message], _window: int) -> Counts:
    counts = Counts()
    for subject, payload, msg_id in batch:
        try:
            ack = await js.publish(subject, orjson.dumps(payload), headers={MSG_ID_HEADER: msg_id})
        except (APIError, nats.errors.Error):
            counts.failed += 1
            continue
        _count(counts, ack)
    return counts


async def _gather(js: JetStreamContext, batch: list[Message], window: int) -> Counts:
    counts = Counts()
    for start in range(0, len(batch), window):
        acks = await asyncio.gather(
            *(
                js.publish(subject, orjson.dumps(payload), headers={MSG_ID_HEADER: msg_id})
                for subject, payload, msg_id in batch[start : start + window]
            ),
            return_exceptions=True,
        )
        for ack in acks:
            if isinstance(ack, BaseException):
                counts.failed += 1
            else:
                _count(counts, ack)
    return counts


async def _publisher(js: JetStreamContext, batch: list[Message], window: int) -> Counts:
    publisher = Publisher(js, max_in_flight=window)
    for subject, payload, msg_id in batch:
        await publisher.publish(subject, payload, msg_id)
    await publisher.flush(timeout=RESULT_TIMEOUT_S)
    return Counts(publisher.published, publisher.duplicates, publisher.failed)


def _count(counts: Counts, ack: Any) -> None:
    if ack.duplicate:
        counts.duplicates += 1
    else:
        counts.stored += 1


RUNNERS = {"awaited": _awaited, "gather": _gather, "publisher": _publisher}


async def _last_seqs(js: JetStreamContext) -> int:
    total = 0
    for stream in STREAMS:
        info = await js.stream_info(stream)
        total += info.state.last_seq
    return total


async def measure(plan: IngestPlan) -> dict[str, Any]:
    """Publish the plan's messages and count what the broker confirmed and kept."""
    batch = list(messages(plan.symbols, plan.messages, time.time_ns() // 1000))
    subjects = len({subject for subject, _, _ in batch})
    nc = await nats.connect(plan.nats_url, name=f"ingest-{plan.mode}")
    try:
        js = nc.jetstream()
        before = await _last_seqs(js)
        cpu = time.process_time()
        began = time.perf_counter()
        counts = await RUNNERS[plan.mode](js, batch, plan.window)
        seconds = time.perf_counter() - began
        cpu_s = time.process_time() - cpu
        stored_in_stream = await _last_seqs(js) - before
    finally:
        await nc.close()
    return {
        "mode": plan.mode,
        "loop": plan.loop,
        "window": plan.window if plan.mode != "awaited" else 1,
        "messages": plan.messages,
        "subjects": subjects,
        "acked": counts.stored,
        "duplicates": counts.duplicates,
        "failed": counts.failed,
        "stored_in_stream": stored_in_stream,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(counts.stored / seconds, 1) if seconds > 0 else 0.0,
        "publisher_cpu_us_per_msg": round(cpu_s / max(plan.messages, 1) * 1e6, 2),
    }


def _child() -> None:
    """Read the plan before any loop exists: the plan says which loop to run on."""
    line = sys.stdin.buffer.readline()
    if not line:
        return
    plan = IngestPlan(**orjson.loads(line))
    result: dict[str, Any] = {}

    async def main() -> None:
        result.update(await measure(plan))

    try:
        run(main(), prefer_uvloop=plan.loop == "uvloop")
    except Exception as exc:
        ChildIO.emit("error", message=repr(exc))
        return
    ChildIO.emit("result", **result)
    sys.stdin.buffer.readline()  # the parent's exit


@dataclass(frozen=True, slots=True)
class IngestCase:
    mode: str
    window: int
    loop: str = "uvloop"


async def run_case(url: str, case: IngestCase, symbols: int, count: int) -> dict[str, Any]:
    """One case in its own process, with the broker's CPU over the same span."""
    plan = IngestPlan(url, case.mode, symbols, count, case.window, case.loop)
    child = await Child.spawn(
        f"ingest-{case.mode}", "mdbridge.bench.ingest", dataclasses.asdict(plan)
    )
    try:
        result = await child.wait_for("result", RESULT_TIMEOUT_S)
    finally:
        await child.close()
    result.pop("event", None)
    return {**result, "load": load_average()}


async def ingest_run(
    cases: tuple[IngestCase, ...], symbols: int, count: int, workdir: Path | None = None
) -> dict[str, Any]:
    """Every case against one fresh nats-server with the project's streams (file storage)."""
    from mdbridge.bench.targets import start_nats  # the broker helpers: only for a run

    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingest-")))
        broker = start_nats(workdir)
        try:
            nc = await nats.connect(broker.url, name="ingest-provision")
            try:
                await ensure_streams(nc.jetstream())
            finally:
                await nc.close()
            rows = []
            for case in cases:
                nats_cpu = cpu_seconds(broker.pids())
                row = await run_case(broker.url, case, symbols, count)
                used = cpu_seconds(broker.pids()) - nats_cpu
                rows.append({**row, "nats_cpu_us_per_msg": round(used / count * 1e6, 2)})
        finally:
            broker.server.stop()
    return {"symbols": symbols, "messages": count, "cpus": os.cpu_count(), "cases": rows}


def cases(
    windows: tuple[int, ...], loops: tuple[str, ...], modes: tuple[str, ...] = MODES
) -> tuple[IngestCase, ...]:
    """Each mode on each loop; the windowed modes at each window."""
    return tuple(
        IngestCase(mode, window, loop)
        for loop in loops
        for mode in modes
        for window in (windows if mode != "awaited" else (1,))
    )


async def ingest(bench: Bench) -> dict[str, Any]:
    """The ``ingest`` scenario of ``mdbridge bench``: every case against its own broker."""
    config = bench.config
    rows: list[dict[str, Any]] = []
    for case in cases(config.ingest_windows, config.ingest_loops):
        raw = case.mode != "publisher"
        count = config.ingest_raw_messages if raw else config.ingest_messages
        result = await ingest_run((case,), config.ingest_symbols, count)
        row = result["cases"][0]
        bench.say(
            f"[ingest] {case.mode} {case.loop} window {case.window}: {row['msgs_per_s']} msgs/s, "
            f"{row['stored_in_stream']}/{row['messages']} stored"
        )
        rows.append(row)
    return {"symbols": config.ingest_symbols, "cpus": os.cpu_count(), "cases": rows}


if __name__ == "__main__":
    _child()
