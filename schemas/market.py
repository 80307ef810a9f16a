"""Normalized market-data payloads: what adapters publish and the bridge forwards unchanged.

Units everywhere: prices in CNY rounded to the instrument's price tick (JSON numbers with no
binary noise), volume in shares (never lots), amount in CNY, all cumulative for the trading
day where stated; times timezone-aware, Asia/Shanghai (+08:00), millisecond precision.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.symbols import SYMBOL_RE, Board, Kind, Market


class DataType(StrEnum):
    QUOTE = "quote"
    KLINE = "kline"
    TRADE = "trade"
    DEPTH = "depth"


class TradingPhase(StrEnum):
    """Trading phase of an instrument or a market (xtquant reports it in ``openInt``)."""

    UNKNOWN = "unknown"
    PRE_OPEN = "pre_open"  # before 09:15
    OPENING_AUCTION = "opening_auction"  # 09:15-09:25 call auction
    PRE_CONTINUOUS = "pre_continuous"  # 09:25-09:30, orders accepted, no matching
    CONTINUOUS = "continuous"  # 09:30-11:30, 13:00-14:57
    LUNCH_BREAK = "lunch_break"  # 11:30-13:00
    CLOSING_AUCTION = "closing_auction"  # 14:57-15:00
    CLOSED = "closed"
    VOLATILITY_BREAK = "volatility_break"
    HALTED = "halted"  # temporary suspension
    INTRADAY_AUCTION = "intraday_auction"
    SUSPENDED_TO_CLOSE = "suspended_to_close"
    AFTER_HOURS_FIXED_PRICE = "after_hours_fixed_price"


Price = Annotated[float, Field(ge=0, description="CNY, rounded to the price tick")]
Shares = Annotated[int, Field(ge=0, description="shares (not lots)")]
Level = Annotated[list[float], Field(min_length=2, max_length=2, description="[price, shares]")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    symbol: str = Field(description="<6-digit code>.<SH|SZ|BJ>, e.g. 600000.SH")
    timestamp: datetime = Field(description="exchange/source time, Asia/Shanghai")


class QuoteData(_Payload):
    """Level-1 snapshot (about every 3 s per symbol)."""

    last_price: Price
    open: Price
    high: Price
    low: Price
    prev_close: Price
    change: float = Field(description="last_price - prev_close, CNY")
    change_percent: float = Field(description="percent, 2 decimals")
    volume: Shares = Field(description="cumulative shares traded today")
    amount: float = Field(ge=0, description="cumulative turnover today, CNY")
    bid_price: Price = Field(description="best bid; 0 when the side is empty")
    ask_price: Price = Field(description="best ask; 0 when the side is empty")
    bid_volume: Shares
    ask_volume: Shares
    bids: list[Level] = Field(description="up to 5 levels, best first")
    asks: list[Level] = Field(description="up to 5 levels, best first")
    limit_up: Price
    limit_down: Price
    phase: TradingPhase
    source: str = Field(description="id of the adapter that produced it")


class KLineData(_Payload):
    """One bar, labelled as xtquant/QMT label it: ``timestamp`` is the END of the bar's period
    (the 09:30-09:31 bar is 09:31, the morning's last 11:30, the day's last 15:00; a day bar
    00:00 of its day); ``start`` is its start. ``closed`` tells a final bar from an update."""

    start: datetime = Field(description="the period's start (the day bar: 00:00, as timestamp)")
    period: str = Field(description="1m, 5m, 15m, 30m, 60m or 1d")
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Shares = Field(description="shares traded within the bar")
    amount: float = Field(ge=0, description="turnover within the bar, CNY")
    closed: bool = Field(description="true once the bar is final")
    source: str


class TradeData(_Payload):
    """One trade (tick-by-tick from Level-2, or derived from consecutive snapshots)."""

    price: Price
    volume: Shares
    amount: float = Field(ge=0, description="CNY")
    direction: str = Field(description="buy, sell or neutral (aggressor side)")
    trade_id: str
    derived: bool = Field(description="true when inferred from snapshots, not an exchange trade")
    source: str


class DepthData(_Payload):
    """Order book: 5 levels from Level-1, 10 from Level-2. Zero-price levels are dropped."""

    bids: list[Level]
    asks: list[Level]
    levels: int = Field(ge=1, le=10)
    source: str


class SymbolInfo(BaseModel):
    """An entry of the symbol directory (JetStream KV ``md_symbols``, key = symbol)."""

    model_config = ConfigDict(frozen=True)

    symbol: str = Field(pattern=SYMBOL_RE.pattern)
    code: str = Field(pattern=r"^[0-9]{6}$")
    name: str
    market: Market
    board: Board
    price_tick: float = Field(gt=0, description="CNY")
    prev_close: Price
    limit_up: Price = Field(description="0: no price limit (an index, a new listing)")
    limit_down: Price = Field(description="0: no price limit (an index, a new listing)")
    status: str = Field(default="listed", description="listed, suspended or delisted")
    is_st: bool = False
    kind: Kind = Field(default=Kind.STOCK, description="stock, index, etf or lof")
    pinyin: str = Field(
        default="", max_length=64, description="pinyin initials of the name, upper case (PFYH)"
    )
    listed: date | None = Field(default=None, description="listing day, when known")


class SourceStatus(BaseModel):
    """A source's word on ``md.status.<source_id>``: ``up`` once ready, a ``heartbeat`` every
    interval, ``down`` last. Other publishers (the data-quality monitor) add their own kinds."""

    model_config = ConfigDict(extra="allow", frozen=True)

    source: str = Field(description="the adapter's source id")
    event: str = Field(description="up, heartbeat or down")
    timestamp: datetime = Field(description="wall-clock time of the message")
    phase: TradingPhase | None = Field(default=None, description="the source's trading phase")
    symbols: int | None = Field(default=None, ge=0, description="symbols it covers")
    published: int | None = Field(default=None, ge=0, description="messages it published so far")


PAYLOAD_MODELS: dict[DataType, type[_Payload]] = {
    DataType.QUOTE: QuoteData,
    DataType.KLINE: KLineData,
    DataType.TRADE: TradeData,
    DataType.DEPTH: DepthData,
}
