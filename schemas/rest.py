"""The REST API's query parameters and response bodies (``/v1``): the OpenAPI document's source.

A REST item is a WebSocket data message without its envelope: the same ``data`` (the payload
exactly as published to NATS) and the same ``metadata.seq``, so the two faces can be compared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from schemas.codes import ErrorCode
from schemas.market import DepthData, KLineData, QuoteData, SymbolInfo, TradeData, TradingPhase
from schemas.messages import MAX_SYMBOLS_PER_REQUEST, LimitInfo
from schemas.symbols import Market

MAX_SERIES_LIMIT = 1000
MAX_SEARCH_LIMIT = 500
MAX_QUERY_TEXT = 64

KLinePeriod = Literal["1m", "5m", "15m", "30m", "60m", "1d"]

P = TypeVar("P", bound=BaseModel)


# -- query parameters ------------------------------------------------------------------------


class _Query(BaseModel):
    # Unknown parameters (cache busters and the like) are ignored, not refused.
    model_config = ConfigDict(extra="ignore", frozen=True)


class SymbolSearchQuery(_Query):
    q: str | None = Field(
        default=None,
        max_length=MAX_QUERY_TEXT,
        description="alias, code, name, pinyin or initials (sh600000, 浦发银行, maotai, PFYH); "
        "omit to list",
    )
    market: Market | None = Field(default=None, description="only this market")
    limit: int = Field(default=20, ge=1, le=MAX_SEARCH_LIMIT, description="at most this many")
    offset: int = Field(default=0, ge=0, le=100_000, description="skip this many (listing only)")


class QuotesQuery(_Query):
    symbols: str = Field(
        max_length=MAX_SYMBOLS_PER_REQUEST * 12,
        pattern=r"^[0-9A-Za-z., ]*$",
        description=f"comma-separated symbols such as 600000.SH, at most {MAX_SYMBOLS_PER_REQUEST}",
    )


class KLineQuery(_Query):
    period: KLinePeriod = Field(default="1m", description="bar period")
    start: datetime | None = Field(
        default=None,
        description="first bar timestamp (its period's end) to include (ISO 8601; no offset "
        "means Asia/Shanghai)",
    )
    end: datetime | None = Field(default=None, description="last bar timestamp to include")
    limit: int = Field(
        default=240,
        ge=1,
        le=MAX_SERIES_LIMIT,
        description="at most this many bars: the first ones from `start`, else the latest",
    )


class TradesQuery(_Query):
    limit: int = Field(
        default=100, ge=1, le=MAX_SERIES_LIMIT, description="the latest this many trades"
    )


# -- response bodies -------------------------------------------------------------------------


class StoredMeta(BaseModel):
    """Where a message lives in JetStream: a stream sequence identifies it forever (with the
    stream's epoch)."""

    subject: str = Field(description="NATS subject, e.g. md.quote.600000.SH")
    seq: int = Field(ge=1, description="JetStream stream sequence (the WebSocket's metadata.seq)")
    broker_ms: int = Field(ge=0, description="when the broker stored it, Unix ms")


class SnapshotMeta(StoredMeta):
    stream: str = Field(description="JetStream stream, e.g. MD_QUOTE")
    epoch: str = Field(description="the stream's creation time: resume_from needs it")


class Snapshot(BaseModel, Generic[P]):
    """The latest value of one subject."""

    data: P
    metadata: SnapshotMeta


class Item(BaseModel, Generic[P]):
    """One stored message: a WebSocket data message without its envelope."""

    data: P
    metadata: StoredMeta


# Named subclasses: the OpenAPI document shows these names.
class QuoteSnapshot(Snapshot[QuoteData]):
    """The latest Level-1 quote of a symbol."""


class DepthSnapshot(Snapshot[DepthData]):
    """The latest order book of a symbol."""


class QuoteItem(Item[QuoteData]):
    """One stored quote."""


class KLineItemMeta(StoredMeta):
    stream: str = Field(
        description="where the bar was read: MD_KLINE (the last day, live versions; its seq is "
        "the WebSocket's) or MD_BAR_<period> (closed-bar history)"
    )


class KLineItem(BaseModel):
    """One bar, in its latest stored version."""

    data: KLineData
    metadata: KLineItemMeta


class TradeItem(Item[TradeData]):
    """One stored trade."""


class StreamMeta(BaseModel):
    stream: str
    epoch: str


class ItemError(BaseModel):
    """Why one symbol of a multi-symbol request has no item (the others are unaffected)."""

    symbol: str
    code: ErrorCode
    detail: str
    suggestions: list[str] | None = None


class QuoteList(BaseModel):
    items: list[QuoteItem] = Field(description="in the order asked, found ones only")
    errors: list[ItemError]
    metadata: StreamMeta


class SeriesMeta(StreamMeta):
    subject: str
    scanned: int = Field(ge=0, description="stored messages read to answer")
    truncated: bool = Field(description="true when the scan limit stopped the read early")


class KLineSeriesMeta(SeriesMeta):
    history_stream: str = Field(description="the closed-bar history stream, e.g. MD_BAR_1D")
    adjustment: Literal["none"] = Field(
        description="price adjustment: none (as traded; no dividend or split adjustment)"
    )
    seq: int = Field(
        ge=0,
        description="the MD_KLINE position this answer reflects: resume_from.seq for a "
        "WebSocket subscription that continues exactly after it",
    )
    next_start: datetime | None = Field(
        description="with `start`: the `start` of the next page (null: no more)"
    )
    prev_end: datetime | None = Field(
        description="without `start`: the `end` of the previous (older) page (null: no more)"
    )


class KLineSeries(BaseModel):
    """Bars in time order; each is the latest stored version of that bar (see ``closed``)."""

    items: list[KLineItem]
    metadata: KLineSeriesMeta


class TradeSeries(BaseModel):
    items: list[TradeItem] = Field(description="oldest first")
    metadata: SeriesMeta


class SymbolList(BaseModel):
    items: list[SymbolInfo]
    total: int = Field(ge=0, description="matches before limit/offset")


class SourceHealth(BaseModel):
    """A data source as its last status message on ``md.status.<source>`` shows it."""

    source: str
    up: bool = Field(description="heard from within the source timeout and not reported down")
    event: str | None = Field(description="the last status event, e.g. heartbeat")
    phase: TradingPhase | None = Field(description="trading phase the source reported")
    last_seen: datetime = Field(description="when the broker stored its last status")
    age_s: float = Field(ge=0, description="seconds since then")


class MarketStatus(BaseModel):
    phase: TradingPhase = Field(
        description="as reported by the first source that is up (none up on a day off: closed)"
    )
    trading_day: bool | None = Field(
        description="whether today (Shanghai) trades by the holidays in KV md_calendar; null "
        "on a weekday whose year has no entry"
    )
    calendar_source: str | None = Field(
        description="who wrote this year's holidays: settings, xtquant or chinese-calendar"
    )
    sources: list[SourceHealth]
    nats_connected: bool
    epochs: dict[str, str] = Field(description="stream name → epoch")
    timestamp: datetime


class Problem(BaseModel):
    """RFC 9457 problem details, with the WebSocket's stable error ``code``."""

    type: str = Field(description="a URI reference to this code's documentation")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(default=None, description="the request path")
    code: ErrorCode
    suggestions: list[str] | None = Field(
        default=None, description="valid symbols close to what was asked"
    )
    limit: LimitInfo | None = Field(default=None, description="the limit that was hit")
