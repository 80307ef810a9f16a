"""A mergeable latency histogram in microseconds: log-linear buckets, ~3 % precision.

Workers record every message (one index computation and one increment), ship the
non-empty buckets as JSON, and the parent merges them; percentiles, max and the CDF come
from the merged counts, so nothing depends on sampling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SUB_BITS = 5  # 32 sub-buckets per power of two: at most 1/32 relative error
LINEAR = 1 << (SUB_BITS + 1)  # values below this get exact buckets


def bucket_of(value_us: int) -> int:
    if value_us < LINEAR:
        return max(value_us, 0)
    shift = value_us.bit_length() - SUB_BITS - 1
    return LINEAR + (shift - 1) * (1 << SUB_BITS) + (value_us >> shift) - (1 << SUB_BITS)


def value_of(index: int) -> float:
    """The middle of a bucket, in microseconds."""
    if index < LINEAR:
        return float(index)
    shift = (index - LINEAR) // (1 << SUB_BITS) + 1
    low = ((index - LINEAR) % (1 << SUB_BITS) + (1 << SUB_BITS)) << shift
    return low + ((1 << shift) - 1) / 2


class Histogram:
    __slots__ = ("count", "counts", "max_us", "total_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total_us = 0
        self.max_us = 0

    def add(self, value_us: int) -> None:
        index = bucket_of(value_us)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.count += 1
        self.total_us += value_us
        if value_us > self.max_us:
            self.max_us = value_us

    def add_many(self, values_us: Iterable[int]) -> None:
        for value in values_us:
            self.add(value)

    def merge(self, other: Histogram) -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.count += other.count
        self.total_us += other.total_us
        self.max_us = max(self.max_us, other.max_us)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) in microseconds; 0 when empty."""
        if not self.count:
            return 0.0
        rank = q / 100 * self.count
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(value_of(index), float(self.max_us))
        return float(self.max_us)

    def cdf(self) -> list[tuple[float, float]]:
        """(latency µs, fraction at or below) per non-empty bucket, ascending."""
        points: list[tuple[float, float]] = []
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            points.append((min(value_of(index), float(self.max_us)), seen / self.count))
        return points

    def summary_ms(self) -> dict[str, float]:
        """p50/p95/p99/max/mean in milliseconds, rounded for reports."""
        mean = self.total_us / self.count if self.count else 0.0
        return {
            "count": self.count,
            "p50": round(self.percentile(50) / 1000, 3),
            "p95": round(self.percentile(95) / 1000, 3),
            "p99": round(self.percentile(99) / 1000, 3),
            "max": round(self.max_us / 1000, 3),
            "mean": round(mean / 1000, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {str(k): v for k, v in self.counts.items()},
            "count": self.count,
            "total_us": self.total_us,
            "max_us": self.max_us,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.counts = {int(k): int(v) for k, v in data.get("counts", {}).items()}
        hist.count = int(data.get("count", 0))
        hist.total_us = int(data.get("total_us", 0))
        hist.max_us = int(data.get("max_us", 0))
        return hist
