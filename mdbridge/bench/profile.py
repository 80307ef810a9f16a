"""Where the bridge spends its time: py-spy samples of the bridge under the tuning case.

py-spy attaches from outside (``--nonblocking``: the bridge is never paused), writes
collapsed stacks, and this module sums them into self time per function and inclusive
time per source file, so the report can say where time goes without a viewer.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from mdbridge.bench.errors import BenchError
from mdbridge.bench.load import Bench
from mdbridge.bench.scenarios import fanout_case
from mdbridge.bench.tuning import bridge_target

TOP = 25


def find_py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise BenchError("py-spy not found: install the bench extra (pip install -e '.[bench]')")
    return found


# The event loop waiting in epoll shows up as self time of the frame that runs it.
IDLE_LEAVES = ("Runner.run (", "run_forever (", "run_until_complete (")
# Frames every sample has: they say nothing about where time goes.
ENTRY_FILES = (
    "runpy",
    "asyncio/runners.py",
    "uvloop/__init__.py",
    "__main__.py",
    "mdbridge/cli.py",
)


def summarize(collapsed: str) -> dict[str, Any]:
    """Self time per function and inclusive time per file, in % of busy samples."""
    self_time: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = busy = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        busy += count
        self_time[frames[-1]] += count
        files = {_short(f.rpartition("(")[2].partition(":")[0]) for f in frames}
        for name in files:
            if not any(entry in name for entry in ENTRY_FILES):
                by_file[name] += count
    if not busy:
        return {"samples": total, "busy_pct": 0.0, "self": [], "files": []}
    return {
        "samples": total,
        "busy_pct": round(100 * busy / total, 1),
        "self": [[f, round(100 * n / busy, 2)] for f, n in self_time.most_common(TOP)],
        "files": [[f, round(100 * n / busy, 2)] for f, n in by_file.most_common(TOP)],
    }


def _short(path: str) -> str:
    """``uvicorn/protocols/...``, ``bridge/core/hub.py``, ``asyncio/locks.py``: no prefixes."""
    for marker in ("site-packages/", "/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    for package in ("/bridge/", "/schemas/", "/mdbridge/"):
        if package in path:
            return package[1:] + path.split(package, 1)[1]
    return path


async def profile(bench: Bench) -> dict[str, Any]:
    config = bench.config
    target = bridge_target(bench, "mdbridge-profiled", {})
    await target.start()
    raw = config.out / "profile.collapsed.txt"
    spies: list[asyncio.subprocess.Process] = []

    async def record() -> None:
        assert target.process is not None
        spies.append(
            await asyncio.create_subprocess_exec(
                find_py_spy(),
                "record",
                "--nonblocking",
                "--pid",
                str(target.process.pid),
                "--duration",
                str(max(1, int(config.window_s))),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(raw),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )

    try:
        run = await fanout_case(bench, target, config.tuning_case, on_window=record)
        for spy in spies:
            await spy.wait()
    finally:
        await target.stop()
    summary = summarize(raw.read_text() if raw.exists() else "")
    return {"case": config.tuning_case.label, "run": run, "profile": summary, "raw": raw.name}
