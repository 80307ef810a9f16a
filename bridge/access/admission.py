"""Admission control: how many connections, how fast, and who gets the last seats.

The policy (docs/security.md), each limit a setting and reported in ``status connected``:

- new connections per client IP: a token bucket (``connect_rate_per_ip``/s, burst
  ``connect_burst_per_ip``); over it: close 1013, ``RATE_LIMITED``, ``retry_after_ms``;
- open connections per IP and per token subject; over: close 1013, ``CONNECTION_LIMIT``;
- capacity by priority tier: tier *t* is admitted while fewer than
  ``max_connections - tier_reserve * (tiers - 1 - t)`` connections are open, so the top tier
  can always use the last ``tier_reserve`` seats; over: close 1013, ``CONNECTION_LIMIT``,
  ``retry_after_ms`` (jittered). A connection still waiting for its auth frame counts as
  the lowest tier;
- client frames per connection: a token bucket (``frames_per_s``, burst ``frame_burst``);
  a frame over it is dropped with a ``RATE_LIMITED`` error; every refused frame is a strike,
  strikes decay one per second, and more than ``frame_rate_strikes`` closes with 4008.

Everything here runs on the event loop thread: plain counters, no locks.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bridge.access.principal import Principal, PrincipalKind
from bridge.errors import AccessConfigError, AccessDeniedError
from bridge.settings import BridgeSettings
from schemas import CloseCode, ErrorCode

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
MAX_TRACKED_IPS = 50_000


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each event takes one."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_s(self, now: float) -> float:
        """Seconds until the next token."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self._rate)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._burst


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted connection's place in the counts; given back by :meth:`Admission.leave`."""

    ip: str
    subject: str | None
    tier: int
    released: bool = False


def _refused(
    code: ErrorCode, message: str, limit: tuple[str, int], retry_after_ms: int
) -> AccessDeniedError:
    return AccessDeniedError(
        CloseCode.TRY_AGAIN_LATER,
        code,
        f"{message}; retry_after_ms={retry_after_ms}",
        message,
        http_status=429 if code is ErrorCode.RATE_LIMITED else 503,
        limit=limit,
        retry_after_ms=retry_after_ms,
    )


class Admission:
    def __init__(self, settings: BridgeSettings, clock: Clock = time.monotonic) -> None:
        if settings.tier_reserve * (settings.tiers - 1) >= settings.max_connections:
            raise AccessConfigError(
                "tier_reserve * (tiers - 1) must stay below max_connections, "
                "or the lowest tier could never connect"
            )
        self._s = settings
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.total = 0
        self.by_ip: Counter[str] = Counter()
        self.by_subject: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by limit name, for metrics

    def capacity(self, tier: int) -> int:
        """Open connections below which ``tier`` is still admitted."""
        top = self._s.tiers - 1
        return self._s.max_connections - self._s.tier_reserve * (top - min(max(tier, 0), top))

    def _retry_hint(self) -> int:
        # Jittered on the server too, so a herd refused together does not return together.
        return int(self._s.retry_after_ms * random.uniform(1.0, 1.5))  # noqa: S311 (jitter)

    def check_rate(self, ip: str) -> None:
        """Take one connection attempt from ``ip``'s bucket; refuse when it is empty."""
        now = self._clock()
        bucket = self._buckets.get(ip)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_IPS:
                self._prune(now)
            bucket = self._buckets[ip] = TokenBucket(
                self._s.connect_rate_per_ip, self._s.connect_burst_per_ip, now
            )
        if not bucket.take(now):
            self.refused["connect_rate_per_ip"] += 1
            wait_ms = max(1, math.ceil(bucket.wait_s(now) * 1000))
            raise _refused(
                ErrorCode.RATE_LIMITED,
                "too many new connections from this address",
                ("connect_rate_per_ip", self._s.connect_rate_per_ip),
                wait_ms,
            )

    def _prune(self, now: float) -> None:
        # An idle address has a full bucket: forgetting it changes nothing.
        self._buckets = {ip: b for ip, b in self._buckets.items() if not b.is_full(now)}
        if len(self._buckets) >= MAX_TRACKED_IPS:  # a flood from many addresses: start over
            self._buckets.clear()

    def enter(self, ip: str, principal: Principal) -> Ticket:
        """Count a new connection in, or raise AccessDeniedError (close 1013)."""
        s = self._s
        if s.max_connections_per_ip and self.by_ip[ip] >= s.max_connections_per_ip:
            self.refused["max_connections_per_ip"] += 1
            raise _refused(
                ErrorCode.CONNECTION_LIMIT,
                "too many connections from this address",
                ("max_connections_per_ip", s.max_connections_per_ip),
                self._retry_hint(),
            )
        subject = self._subject_of(principal)
        if subject is not None:
            self._check_subject(subject)
        tier = principal.tier if principal.kind is PrincipalKind.TOKEN else 0
        capacity = self.capacity(tier)
        if self.total >= capacity:
            self.refused["max_connections"] += 1
            raise _refused(
                ErrorCode.CONNECTION_LIMIT,
                f"server at capacity for tier {tier}",
                ("max_connections", capacity),
                self._retry_hint(),
            )
        ticket = Ticket(ip, subject, tier)
        self.total += 1
        self.by_ip[ip] += 1
        if subject is not None:
            self.by_subject[subject] += 1
        return ticket

    def identify(self, ticket: Ticket, principal: Principal) -> None:
        """A pending connection authenticated (auth frame): count it under its subject."""
        subject = self._subject_of(principal)
        if subject is None or ticket.subject == subject:
            return
        self._check_subject(subject)
        if ticket.subject is not None:
            self._forget(self.by_subject, ticket.subject)
        ticket.subject = subject
        self.by_subject[subject] += 1

    def _check_subject(self, subject: str) -> None:
        limit = self._s.max_connections_per_subject
        if limit and self.by_subject[subject] >= limit:
            self.refused["max_connections_per_subject"] += 1
            raise _refused(
                ErrorCode.CONNECTION_LIMIT,
                "too many connections with this token's subject",
                ("max_connections_per_subject", limit),
                self._retry_hint(),
            )

    @staticmethod
    def _subject_of(principal: Principal) -> str | None:
        return principal.subject if principal.kind is PrincipalKind.TOKEN else None

    @staticmethod
    def _forget(counter: Counter[str], key: str) -> None:
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]

    def leave(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        ticket.released = True
        self.total -= 1
        self._forget(self.by_ip, ticket.ip)
        if ticket.subject is not None:
            self._forget(self.by_subject, ticket.subject)

    def limits(self) -> dict[str, int]:
        s = self._s
        return {
            "max_connections": s.max_connections,
            "max_connections_per_ip": s.max_connections_per_ip,
            "max_connections_per_subject": s.max_connections_per_subject,
            "connect_rate_per_ip": s.connect_rate_per_ip,
            "connect_burst_per_ip": s.connect_burst_per_ip,
            "frames_per_s": s.frames_per_s,
            "frame_burst": s.frame_burst,
            "frame_rate_strikes": s.frame_rate_strikes,
            "tiers": s.tiers,
            "tier_reserve": s.tier_reserve,
        }


class FrameLimiter:
    """One connection's client-frame budget, with strikes for clients that ignore it."""

    __slots__ = ("_bucket", "_clock", "_last", "_max_strikes", "_strikes")

    def __init__(self, settings: BridgeSettings, clock: Clock = time.monotonic) -> None:
        now = clock()
        self._bucket = TokenBucket(settings.frames_per_s, settings.frame_burst, now)
        self._clock = clock
        self._max_strikes = settings.frame_rate_strikes
        self._strikes = 0.0
        self._last = now

    def allow(self) -> bool:
        """True: serve the frame. False: drop it. Raises AccessDeniedError (4008) on repeat."""
        now = self._clock()
        if self._bucket.take(now):
            return True
        self._strikes = max(0.0, self._strikes - (now - self._last)) + 1.0
        self._last = now
        if self._strikes > self._max_strikes:
            raise AccessDeniedError(
                CloseCode.RATE_LIMITED,
                ErrorCode.RATE_LIMITED,
                "rate limit ignored",
                f"more than {self._max_strikes} frames refused for exceeding the frame rate",
                limit=("frame_rate_strikes", self._max_strikes),
            )
        return False
