"""The data-quality report: findings per symbol and per source (no I/O here).

The monitor (services/quality) writes the whole report as JSON to the KV bucket
``md_quality`` under the key ``report`` and publishes it on ``md.status.quality.report``;
every finding raised or cleared is also published on ``md.status.quality.finding``. Both
carry a ``kind`` (``quality_report`` / ``quality_finding``), which is how readers of
``md.status.>`` (the bridge's status board, /admin/quality) tell them from source status.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from schemas.market import TradingPhase


class FindingKind(StrEnum):
    STALE = "stale"  # no quote for a symbol for too long while the market trades
    TIMESTAMP_BACKWARDS = "timestamp_backwards"  # a quote older than one already seen
    PRICE_OUTSIDE_BAND = "price_outside_band"  # last price above limit_up or below limit_down
    LIMIT_RULE = "limit_rule"  # limits no rule of the kind allows (an index with limits, ...)
    CROSSED_BOOK = "crossed_book"  # best bid >= best ask
    VOLUME_DOWN = "volume_down"  # cumulative day volume went down
    SOURCE_SILENT = "source_silent"  # a source stopped its heartbeats, or its data, or said down


Severity = Literal["warning", "error"]


class Finding(BaseModel):
    """One condition on one symbol or source: raised, counted while it lasts, then cleared."""

    kind: Literal["quality_finding"] = "quality_finding"
    check: FindingKind
    severity: Severity
    symbol: str | None = Field(default=None, description="the symbol, for per-symbol findings")
    source: str | None = Field(default=None, description="the source that published the data")
    active: bool = Field(description="false once a later observation cleared it")
    first_seen: datetime
    last_seen: datetime
    timestamp: datetime = Field(description="when this was raised, updated or cleared")
    count: int = Field(ge=1, description="observations while it was active")
    message: str


class SourceHealth(BaseModel):
    state: Literal["up", "silent", "down"]
    last_seen: datetime | None = Field(description="broker time of its last status message")
    received: int = Field(description="data items the source reported, from its heartbeat")
    detail: str = ""


class QualityReport(BaseModel):
    """The JSON at KV ``md_quality``/``report`` and on ``md.status.quality.report``."""

    kind: Literal["quality_report"] = "quality_report"
    generated_at: datetime
    phase: TradingPhase = Field(description="the market phase by the monitor's calendar")
    trading: bool = Field(description="whether staleness and silence are checked right now")
    symbols: int = Field(description="symbols with at least one quote seen")
    quotes: int = Field(description="quotes checked since the monitor started")
    sources: dict[str, SourceHealth]
    counts: dict[FindingKind, int] = Field(description="active findings by kind")
    totals: dict[FindingKind, int] = Field(description="findings raised since start, by kind")
    active: list[Finding] = Field(description="active findings, errors first, at most 500")
    recent: list[Finding] = Field(description="the latest raised or cleared, newest first")
    truncated: bool = Field(description="more active findings exist than listed")
    suppressed: int = Field(default=0, description="changes not published (rate limit)")
