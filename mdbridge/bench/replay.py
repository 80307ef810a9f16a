"""Resume and ack mode: history replayed through the bridge, and the raw JetStream limits.

The raw figures use nats-py directly (the same library the bridge uses) on the same
stored messages: an ordered push consumer and a pull consumer for replay, a durable pull
consumer with acknowledgements for ack mode. They are what a bridge could reach at best.
When the bridge answers ``UNSUPPORTED`` (resume and ack mode not enabled on the server
under test), the bridge figure is recorded as unsupported, not guessed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from mdbridge.bench._proc import Child
from mdbridge.bench.load import Bench, LoadRun
from mdbridge.bench.monitor import cpu_seconds
from mdbridge.bench.targets import Target
from schemas import STREAM_BY_TYPE, DataType, stream_subjects

STREAM = STREAM_BY_TYPE[DataType.QUOTE]
PULL_BATCH = 1000
RAW_TIMEOUT_S = 180.0


def _rate(count: int, seconds: float) -> dict[str, Any]:
    return {
        "messages": count,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds, 1) if seconds > 0 else 0.0,
    }


async def raw_ordered_replay(nc: NatsClient, first_seq: int, count: int) -> dict[str, Any]:
    js = nc.jetstream()
    done = asyncio.Event()
    got = 0

    async def on_msg(msg: Msg) -> None:
        nonlocal got
        got += 1
        if got >= count:
            done.set()

    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first_seq)
    began = time.perf_counter()
    sub = await js.subscribe(
        stream_subjects(DataType.QUOTE),
        stream=STREAM,
        cb=on_msg,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=count + 1,
    )
    try:
        await asyncio.wait_for(done.wait(), RAW_TIMEOUT_S)
        return _rate(got, time.perf_counter() - began)
    finally:
        await sub.unsubscribe()


async def raw_pull(
    nc: NatsClient, first_seq: int, count: int, ack: AckPolicy, name: str
) -> dict[str, Any]:
    """A pull consumer from ``first_seq``: no acks (replay) or acks (ack mode's limit)."""
    js = nc.jetstream()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first_seq,
        ack_policy=ack,
        max_ack_pending=-1 if ack is AckPolicy.NONE else 10_000,
        mem_storage=True,
        num_replicas=1,
    )
    sub = await js.pull_subscribe(stream_subjects(DataType.QUOTE), durable=name, config=config)
    got = 0
    began = time.perf_counter()
    try:
        while got < count:
            batch = await sub.fetch(min(PULL_BATCH, count - got), timeout=10)
            got += len(batch)
            if ack is AckPolicy.EXPLICIT:
                for msg in batch:
                    await msg.ack()
            elif ack is AckPolicy.ALL:
                await batch[-1].ack()
        return _rate(got, time.perf_counter() - began)
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(STREAM, name)


async def fill(bench: Bench, count: int, symbols: list[int]) -> dict[str, Any]:
    command = {"cmd": "fill", "count": count, "symbols": symbols, "stored": True}
    return await bench.publish(command, RAW_TIMEOUT_S)


async def epoch(nc: NatsClient) -> str:
    info = await nc.jetstream().stream_info(STREAM)
    return info.created.isoformat() if info.created else ""


async def _counted(run: LoadRun, timeout: float) -> str:
    """Until every worker saw its messages (or an error), or the timeout."""

    async def done_of(worker: Child) -> dict[str, Any]:
        # it may have come while the run waited for "ready" (a fast catch-up)
        return worker.latest.get("done") or await worker.wait_for("done", timeout)

    try:
        done = await asyncio.gather(*(done_of(w) for w in run.workers))
    except TimeoutError:
        return "timeout"
    return "error" if any(int(d.get("errors", 0)) for d in done) else "done"


def _bridge_result(report: dict[str, Any], outcome: str, count: int) -> dict[str, Any]:
    samples = " ".join(report["error_samples"])
    if "UNSUPPORTED" in samples:
        return {"status": "unsupported", "detail": samples[:200]}
    start = report["subscribe_sent_ns"] or report["first_ns"]
    seconds = (report["last_ns"] - start) / 1e9 if report["last_ns"] else 0.0
    result = _rate(int(report["delivered"]), seconds)
    result.update(
        status="ok" if outcome == "done" else outcome,
        expected=count,
        acked=report["acked"],
        recovered=report["recovered"],
        errors=report["errors"],
        error_samples=report["error_samples"],
        cpu_pct=report["cpu_pct"],
    )
    return result


async def _bridge_counted(
    bench: Bench,
    target: Target,
    symbols: list[str],
    extra: dict[str, Any],
    count: int,
    label: str,
) -> dict[str, Any]:
    run = LoadRun(bench, target, [symbols], label=label, extra=extra, expect=count)
    bridge_cpu = cpu_seconds(target.pids())  # the catch-up starts with the subscribe
    try:
        await run.open()
        run.start_cpu()
        outcome = await _counted(run, RAW_TIMEOUT_S)
        bridge_cpu = cpu_seconds(target.pids()) - bridge_cpu
        report = await run.report()
    finally:
        await run.close()
    result = _bridge_result(report, outcome, count)
    if bridge_cpu > 0 and "messages" in result:
        # what one fully available core would do: the machine is shared
        result["msgs_per_cpu_s"] = round(result["messages"] / bridge_cpu)
    return result


async def resume(bench: Bench) -> dict[str, Any]:
    config = bench.config
    count = config.replay_messages
    indices = list(range(config.replay_symbols))
    filled = await fill(bench, count, indices)
    first = int(filled["first_seq"])
    result: dict[str, Any] = {
        "messages": count,
        "symbols": len(indices),
        "fill": filled,
        "raw_ordered": await raw_ordered_replay(bench.nc, first, count),
        "raw_pull": await raw_pull(bench.nc, first, count, AckPolicy.NONE, "bench_replay"),
    }
    target = bench.targets.get("mdbridge")
    if target is not None:
        extra = {"resume_from": {"seq": first - 1, "epoch": await epoch(bench.nc)}}
        symbols = [bench.universe[i] for i in indices]
        result["mdbridge"] = await _bridge_counted(
            bench, target, symbols, extra, count, "resume mdbridge"
        )
    return result


async def ack(bench: Bench) -> dict[str, Any]:
    config = bench.config
    count = config.ack_messages
    filled = await fill(bench, count, list(range(config.replay_symbols)))
    first = int(filled["first_seq"])
    result: dict[str, Any] = {
        "messages": count,
        "raw_ack_explicit": await raw_pull(
            bench.nc, first, count, AckPolicy.EXPLICIT, "bench_ack_explicit"
        ),
        "raw_ack_all": await raw_pull(bench.nc, first, count, AckPolicy.ALL, "bench_ack_all"),
    }
    target = bench.targets.get("mdbridge")
    if target is not None:
        # The same stored messages, through a durable ack-mode consumer from that point:
        # the client acknowledges cumulatively after each frame it reads.
        symbols = [bench.universe[i] for i in range(config.replay_symbols)]
        extra = {
            "ack": True,
            "durable": "bench",
            "resume_from": {"seq": first - 1, "epoch": await epoch(bench.nc)},
        }
        result["mdbridge"] = await _bridge_counted(
            bench, target, symbols, extra, count, "ack mdbridge"
        )
    return result
