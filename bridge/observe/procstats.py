"""This process's CPU, memory and network, read with psutil (docs/observability.md, "Metrics").

One reading is shared by every metric callback of a collection (it is cached briefly), and
the CPU share is computed between two readings, as ``top`` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

CACHE_S = 0.5


@dataclass(frozen=True, slots=True)
class ProcessReading:
    at: float  # monotonic seconds
    cpu_seconds: float  # user + system since the process started
    rss_bytes: int
    threads: int
    open_fds: int
    net_sent_bytes: int  # the network namespace's interfaces: the pod, in a container
    net_recv_bytes: int


class ProcessStats:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self._last: ProcessReading | None = None

    def read(self) -> ProcessReading:
        now = time.monotonic()
        last = self._last
        if last is not None and now - last.at < CACHE_S:
            return last
        with self._process.oneshot():
            cpu = self._process.cpu_times()
            rss = self._process.memory_info().rss
            threads = self._process.num_threads()
            fds = self._process.num_fds()
        net = psutil.net_io_counters()
        reading = ProcessReading(
            at=now,
            cpu_seconds=cpu.user + cpu.system,
            rss_bytes=rss,
            threads=threads,
            open_fds=fds,
            net_sent_bytes=net.bytes_sent if net else 0,
            net_recv_bytes=net.bytes_recv if net else 0,
        )
        self._last = reading
        return reading


def cpu_percent(before: ProcessReading, after: ProcessReading) -> float:
    """CPU used between two readings, in percent of one core (200 = two cores busy)."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0
    return max(0.0, (after.cpu_seconds - before.cpu_seconds) / elapsed * 100)
