"""Wire time: ISO 8601, millisecond precision, Asia/Shanghai offset (+08:00, no DST since 1991)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def iso_ms(dt: datetime) -> str:
    """``2026-11-20T09:30:03.123+08:00``; naive datetimes are taken as Shanghai time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    return dt.astimezone(SHANGHAI).isoformat(timespec="milliseconds")


def from_epoch_ms(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=SHANGHAI)


def epoch_ms_to_iso(ms: int | float) -> str:
    return iso_ms(from_epoch_ms(ms))


def now_iso() -> str:
    return epoch_ms_to_iso(time.time() * 1000)
