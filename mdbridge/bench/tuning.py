"""Tuning experiments on the bridge alone: compression, WebSocket implementation, workers.

Each variant is a fresh bridge process with one setting changed, driven by the same
generator on the same case, so the difference is the setting.
"""

from __future__ import annotations

from typing import Any

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


async def _variant(bench: Bench, target: BridgeTarget, setting: dict[str, Any]) -> dict[str, Any]:
    await target.start()
    try:
        return setting | await fanout_case(bench, target, bench.config.tuning_case)
    finally:
        await target.stop()


async def compression(bench: Bench) -> list[dict[str, Any]]:
    """permessage-deflate off and on; the client offers it both times."""
    rows = []
    for on in bench.config.compression_modes:
        env = {"MDBRIDGE_WS_COMPRESSION": "true" if on else "false"}
        target = bridge_target(
            bench, f"mdbridge-deflate-{'on' if on else 'off'}", env, deflate=True
        )
        rows.append(await _variant(bench, target, {"compression": on}))
    return rows


async def ws_impl(bench: Bench) -> list[dict[str, Any]]:
    rows = []
    for impl in bench.config.ws_impls:
        target = bridge_target(bench, f"mdbridge-{impl}", {"MDBRIDGE_WS_IMPL": impl})
        rows.append(await _variant(bench, target, {"ws_impl": impl}))
    return rows


async def workers(bench: Bench) -> list[dict[str, Any]]:
    rows = []
    for count in bench.config.worker_counts:
        target = bridge_target(bench, f"mdbridge-workers-{count}", {}, workers=count)
        rows.append(await _variant(bench, target, {"workers": count}))
    return rows
