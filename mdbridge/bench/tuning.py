"""Tuning experiments on the bridge alone: compression, WebSocket implementation, workers.

Each variant is a fresh bridge process with one setting changed, driven by the same
generator on the same case, so the difference is the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mdbridge.bench.config import FanoutCase
from mdbridge.bench.load import Bench
from mdbridge.bench.scenarios import fanout_case
from mdbridge.bench.targets import BridgeTarget
from mdbridge.natsserver import free_port

# Admission limits are policy, not capacity: the load generator opens thousands of
# connections from a handful of loopback addresses, so they are lifted for the bench.
ADMISSION_OFF = {
    "MDBRIDGE_MAX_CONNECTIONS": "100000",
    "MDBRIDGE_MAX_CONNECTIONS_PER_IP": "0",
    "MDBRIDGE_CONNECT_RATE_PER_IP": "1000000",
    "MDBRIDGE_CONNECT_BURST_PER_IP": "1000000",
    "MDBRIDGE_FRAMES_PER_S": "1000000",
    "MDBRIDGE_FRAME_BURST": "1000000",
}


def bridge_env(bench: Bench) -> dict[str, str]:
    env = {"MDBRIDGE_HEARTBEAT_INTERVAL_S": str(bench.config.heartbeat_s), **ADMISSION_OFF}
    env.update(bench.config.bridge_env)
    return env


def bridge_target(
    bench: Bench, name: str, env: dict[str, str], *, deflate: bool = False, workers: int = 1
) -> BridgeTarget:
    return BridgeTarget(
        name=name,
        protocol="mdbridge",
        port=free_port(),
        deflate=deflate,
        nats_url=bench.nats.url,
        log_dir=bench.config.out / "logs",
        workers=workers,
        env=bridge_env(bench) | env,
    )


@dataclass(frozen=True)
class Variant:
    value: Any  # what the report shows in the setting's column
    name: str
    env: dict[str, str]
    deflate: bool = False
    workers: int = 1


async def _compare(
    bench: Bench, key: str, variants: list[Variant], case: FanoutCase | None = None
) -> list[dict[str, Any]]:
    """Each variant on the same case, ``tuning_repeats`` rounds, interleaved (A B A B)."""
    rows = []
    for round_ in range(bench.config.tuning_repeats):
        for v in variants:
            target = bridge_target(bench, v.name, v.env, deflate=v.deflate, workers=v.workers)
            await target.start()
            try:
                row = await fanout_case(bench, target, case or bench.config.tuning_case)
            finally:
                await target.stop()
            rows.append({key: v.value, "round": round_ + 1} | row)
    return rows


async def compression(bench: Bench) -> list[dict[str, Any]]:
    """permessage-deflate off and on; the client offers it both times."""
    variants = [
        Variant(on, f"mdbridge-deflate-{'on' if on else 'off'}",
                {"MDBRIDGE_WS_COMPRESSION": str(on).lower()}, deflate=True)
        for on in bench.config.compression_modes
    ]  # fmt: skip
    return await _compare(bench, "compression", variants)


async def ws_impl(bench: Bench) -> list[dict[str, Any]]:
    variants = [
        Variant(impl, f"mdbridge-{impl}", {"MDBRIDGE_WS_IMPL": impl})
        for impl in bench.config.ws_impls
    ]
    return await _compare(bench, "ws_impl", variants)


async def event_loop(bench: Bench) -> list[dict[str, Any]]:
    variants = [
        Variant(loop, f"mdbridge-{loop}", {"MDBRIDGE_EVENT_LOOP": loop})
        for loop in bench.config.event_loops
    ]
    return await _compare(bench, "event_loop", variants)


async def workers(bench: Bench) -> list[dict[str, Any]]:
    variants = [
        Variant(n, f"mdbridge-workers-{n}", {}, workers=n) for n in bench.config.worker_counts
    ]
    return await _compare(bench, "workers", variants)


async def gc(bench: Bench) -> list[dict[str, Any]]:
    """The garbage-collector policy (bridge/core/gcpolicy.py) off and on, on the latency case."""
    variants = [
        Variant(on, f"mdbridge-gc-{'on' if on else 'off'}", {"MDBRIDGE_GC_TUNING": str(on).lower()})
        for on in bench.config.gc_modes
    ]
    return await _compare(bench, "gc_tuning", variants, bench.config.gc_case)
