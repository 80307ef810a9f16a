"""NATS subject, stream and bucket names: the contract backend services read directly.

md.quote.<code>.<market>            MD_QUOTE
md.kline.<period>.<code>.<market>   MD_KLINE
md.trade.<code>.<market>            MD_TRADE
md.depth.<code>.<market>            MD_DEPTH
md.status.<source_id>               MD_STATUS  (one token: source heartbeats and health)
md.status.symbol.<code>.<market>    MD_STATUS  (halted, resumed, limit_up, limit_down, ...)
md.status.quality.finding           MD_STATUS  (a data-quality finding raised or cleared)
md.status.quality.report            MD_STATUS  (the periodic report; also KV md_quality/report)
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.market import DataType
from schemas.symbols import is_market_wildcard, is_symbol

SUBJECT_ROOT = "md"
SYMBOLS_BUCKET = "md_symbols"
STATUS_PREFIX = f"{SUBJECT_ROOT}.status"

STREAM_BY_TYPE: dict[DataType, str] = {
    DataType.QUOTE: "MD_QUOTE",
    DataType.KLINE: "MD_KLINE",
    DataType.TRADE: "MD_TRADE",
    DataType.DEPTH: "MD_DEPTH",
}
STATUS_STREAM = "MD_STATUS"

KLINE_PERIODS: tuple[str, ...] = ("1m", "5m", "15m", "30m", "60m", "1d")


def stream_for(data_type: DataType) -> str:
    return STREAM_BY_TYPE[data_type]


def stream_subjects(data_type: DataType) -> str:
    """The wildcard a stream captures, e.g. ``md.quote.>``."""
    return f"{SUBJECT_ROOT}.{data_type.value}.>"


def data_subject(data_type: DataType, symbol: str, period: str | None = None) -> str:
    """``md.quote.600000.SH`` for ``600000.SH``; K-lines put the period first.

    ``symbol`` may be a market wildcard such as ``*.SH``. Anything else raises ValueError:
    this is the one place subjects are built, so no client text reaches NATS unchecked.
    """
    if not (is_symbol(symbol) or is_market_wildcard(symbol)):
        raise ValueError(f"not a symbol or market wildcard: {symbol[:40]!r}")
    if data_type is DataType.KLINE:
        if period not in KLINE_PERIODS:
            raise ValueError(f"a kline subject needs a period, one of {', '.join(KLINE_PERIODS)}")
        return f"{SUBJECT_ROOT}.kline.{period}.{symbol}"
    return f"{SUBJECT_ROOT}.{data_type.value}.{symbol}"


def status_subject(source_id: str) -> str:
    return f"{STATUS_PREFIX}.{source_id}"


@dataclass(frozen=True, slots=True)
class ParsedSubject:
    data_type: DataType
    symbol: str
    period: str | None


def parse_subject(subject: str) -> ParsedSubject:
    """Inverse of :func:`data_subject` for concrete subjects; raises ValueError otherwise."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != SUBJECT_ROOT:
        raise ValueError(f"not a market-data subject: {subject!r}")
    data_type = DataType(parts[1])
    if data_type is DataType.KLINE:
        if len(parts) != 5:
            raise ValueError(f"not a kline subject: {subject!r}")
        return ParsedSubject(data_type, f"{parts[3]}.{parts[4]}", parts[2])
    if len(parts) != 4:
        raise ValueError(f"not a market-data subject: {subject!r}")
    return ParsedSubject(data_type, f"{parts[2]}.{parts[3]}", None)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS matching: ``*`` is one token, a final ``>`` one or more; ``pattern`` may be exact."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or (part != "*" and part != have[i]):
            return False
    return len(want) == len(have)


# -- symbol status and data quality: deeper under md.status, so that a consumer of source
# health can subscribe to ``md.status.*`` (one token) and never mistake them for a source --
SYMBOL_STATUS_PREFIX = f"{STATUS_PREFIX}.symbol"
QUALITY_PREFIX = f"{STATUS_PREFIX}.quality"
QUALITY_FINDING_SUBJECT = f"{QUALITY_PREFIX}.finding"
QUALITY_REPORT_SUBJECT = f"{QUALITY_PREFIX}.report"
QUALITY_BUCKET = "md_quality"
QUALITY_REPORT_KEY = "report"
SOURCE_STATUS_WILDCARD = f"{STATUS_PREFIX}.*"


def symbol_status_subject(symbol: str) -> str:
    """``md.status.symbol.600000.SH``: trading-status events of one symbol."""
    return f"{SYMBOL_STATUS_PREFIX}.{symbol}"
