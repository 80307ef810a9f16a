"""What a target still holds when a case starts: the bench reuses one process per target.

The scenarios run back to back with no settle time (that is how a slow recovery after
overload shows), so each case records the state it inherited: bytes still queued in the
kernel for the target's client sockets (any target), and for mdbridge its own send queues.
"""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from typing import Any

from mdbridge.bench.targets import Target

QUEUE_METRIC = "mdbridge_ws_queue_total_bytes"
ESTABLISHED = "01"


def kernel_send_queue(port: int, tables: tuple[str, ...] = ("tcp", "tcp6")) -> tuple[int, int]:
    """(established sockets on local ``port``, bytes in their send queues), from /proc."""
    sockets = queued = 0
    for table in tables:
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state != ESTABLISHED or int(local.rsplit(":", 1)[1], 16) != port:
                continue
            sockets += 1
            queued += int(queues.split(":")[0], 16)
    return sockets, queued


def _bridge_queued(target: Target) -> int | None:
    url = f"http://{target.host}:{target.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(QUEUE_METRIC):
            return int(float(line.split()[-1]))
    return None


async def start_state(target: Target) -> dict[str, Any]:
    sockets, kernel = await asyncio.to_thread(kernel_send_queue, target.port)
    state: dict[str, Any] = {"sockets": sockets, "kernel_send_queue_bytes": kernel}
    if target.protocol == "mdbridge":
        state["bridge_queued_bytes"] = await asyncio.to_thread(_bridge_queued, target)
    return state
