"""A per-client-IP budget for symbol searches (``GET /v1/symbols?q=``): each search costs
the index real work, so a client that loops on it is told to back off (429) instead."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bridge.access.admission import TokenBucket

MAX_TRACKED_IPS = 10_000


class SearchLimiter:
    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def retry_after_s(self, ip: str) -> int | None:
        """None: search now. Otherwise whole seconds to wait (the search is refused)."""
        now = self._clock()
        bucket = self._buckets.get(ip)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_IPS:  # forget the idle ones, then anyone
                idle = [key for key, b in self._buckets.items() if b.is_full(now)]
                for key in idle or list(self._buckets)[: MAX_TRACKED_IPS // 2]:
                    del self._buckets[key]
            bucket = self._buckets[ip] = TokenBucket(self._rate, self._burst, now)
        if bucket.take(now):
            return None
        return max(1, math.ceil(bucket.wait_s(now)))
