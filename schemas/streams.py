"""JetStream stream specifications: names, subjects and retention defaults (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.market import DataType
from schemas.subjects import STATUS_PREFIX, STATUS_STREAM, STREAM_BY_TYPE, stream_subjects

ONE_TRADING_DAY_S = 24 * 3600
# Set on purpose (nats-server's own default is no limit): bounded broker memory, and the
# bridges' ack-mode quotas keep `consumer_reserve` of these free for their shared feeds
# and resumes (docs/security.md).
STREAM_MAX_CONSUMERS = 1000


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float = ONE_TRADING_DAY_S
    duplicate_window_s: float = 120.0
    max_consumers: int = STREAM_MAX_CONSUMERS


def default_stream_specs() -> tuple[StreamSpec, ...]:
    market = tuple(
        StreamSpec(name=STREAM_BY_TYPE[dt], subjects=(stream_subjects(dt),)) for dt in DataType
    )
    return (*market, StreamSpec(name=STATUS_STREAM, subjects=(f"{STATUS_PREFIX}.>",)))
