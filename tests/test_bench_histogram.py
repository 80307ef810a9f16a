"""The bench's latency histogram: bounded error, exact counts, lossless merge."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from mdbridge.bench.histogram import Histogram, bucket_of, value_of


@given(st.integers(min_value=0, max_value=10**9))
def test_bucket_value_is_within_four_percent(value: int) -> None:
    middle = value_of(bucket_of(value))
    assert abs(middle - value) <= max(1.0, value * 0.04)


def test_percentiles_merge_and_json_round_trip() -> None:
    rng = random.Random(3)
    values = [rng.randint(0, 50_000) for _ in range(20_000)]
    left, right = Histogram(), Histogram()
    left.add_many(values[:7_000])
    right.add_many(values[7_000:])
    left.merge(Histogram.from_json(right.to_json()))
    ordered = sorted(values)
    assert left.count == len(values)
    assert left.max_us == ordered[-1]
    for q in (50, 95, 99):
        exact = ordered[int(q / 100 * len(ordered)) - 1]
        assert abs(left.percentile(q) - exact) <= exact * 0.04 + 1
    summary = left.summary_ms()
    assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert left.cdf()[-1][1] == 1.0
