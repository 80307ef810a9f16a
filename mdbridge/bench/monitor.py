"""CPU and memory of the processes under test, read with psutil (children included)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        for proc in _tree(pid):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for proc in _tree(pid):
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return total


@dataclass
class CpuWindow:
    """CPU use of a set of processes between ``start`` and ``stop``, in % of one core."""

    pids: list[int]
    _cpu: float = 0.0
    _wall: float = 0.0

    def start(self) -> CpuWindow:
        self._cpu = cpu_seconds(self.pids)
        self._wall = time.monotonic()
        return self

    def percent(self) -> float:
        wall = time.monotonic() - self._wall
        if wall <= 0:
            return 0.0
        # A process that exited meanwhile takes its CPU time along: never report below 0.
        return max(0.0, round((cpu_seconds(self.pids) - self._cpu) / wall * 100, 1))


def load_average() -> list[float]:
    return [round(x, 2) for x in psutil.getloadavg()]
