"""Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**attempt))``.

Full jitter spreads a crowd of clients that lost the same server over the whole window
instead of bringing them back in waves (AWS Architecture Blog, "Exponential Backoff And
Jitter").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.25
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 32))
        return self.rng.uniform(0, ceiling)
