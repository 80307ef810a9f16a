"""JetStream stream specifications: names, subjects and retention defaults (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.history import HistoryRetention, history_stream
from schemas.market import DataType
from schemas.subjects import (
    KLINE_PERIODS,
    STATUS_PREFIX,
    STATUS_STREAM,
    STREAM_BY_TYPE,
    stream_subjects,
)

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
    max_msgs_per_subject: int = -1
    # A history stream keeps bars by count, never by age: a deployment's max_age is not for it.
    by_count: bool = False


def default_stream_specs() -> tuple[StreamSpec, ...]:
    market = tuple(
        StreamSpec(name=STREAM_BY_TYPE[dt], subjects=(stream_subjects(dt),)) for dt in DataType
    )
    return (*market, StreamSpec(name=STATUS_STREAM, subjects=(f"{STATUS_PREFIX}.>",)))


def history_stream_specs(retention: HistoryRetention) -> tuple[StreamSpec, ...]:
    """The closed-bar history streams (schemas/history.py), one per period."""
    return tuple(
        StreamSpec(
            name=history_stream(period),
            subjects=(f"md.bar.{period}.>",),
            max_age_s=0,
            max_msgs_per_subject=retention.bars(period),
            by_count=True,
        )
        for period in KLINE_PERIODS
    )
