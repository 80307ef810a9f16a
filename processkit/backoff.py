"""Exponential backoff, the one schedule for every retry: ``min(cap, base * 2**attempt)``.

With ``jitter`` (the default) the delay is drawn from ``uniform(0, that ceiling)`` ("full
jitter"): a crowd of clients that lost the same server spreads over the whole window instead
of coming back in waves (AWS Architecture Blog, "Exponential Backoff And Jitter"). A lone
process reconnecting to its own source (the adapters) uses the plain schedule.

Standard library only: ``mdbridge.client`` imports it and ships without server dependencies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.25
    cap_s: float = 30.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (0 for the first retry)."""
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 32))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = self.ceiling(attempt)
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling
