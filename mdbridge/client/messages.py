"""Typed messages of the mdbridge protocol (docs/protocol.md), without pydantic.

Payload shapes mirror ``schemas.market``; every key is optional because a subscription's
``filters.fields`` may keep only some of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, cast

DATA_TYPES = frozenset({"market_data", "kline_data", "trade_data", "depth_data"})

Level = list[float]  # [price, shares]


class QuotePayload(TypedDict, total=False):
    symbol: str
    timestamp: str
    last_price: float
    open: float
    high: float
    low: float
    prev_close: float
    change: float
    change_percent: float
    volume: int
    amount: float
    bid_price: float
    ask_price: float
    bid_volume: int
    ask_volume: int
    bids: list[Level]
    asks: list[Level]
    limit_up: float
    limit_down: float
    phase: str
    source: str


class KLinePayload(TypedDict, total=False):
    symbol: str
    timestamp: str  # the period's end, as xtquant/QMT label bars
    start: str  # the period's start
    period: str
    open: float
    high: float
    low: float
    close: float
    volume: int
    amount: float
    closed: bool
    source: str


class TradePayload(TypedDict, total=False):
    symbol: str
    timestamp: str
    price: float
    volume: int
    amount: float
    direction: str
    trade_id: str
    derived: bool
    source: str


class DepthPayload(TypedDict, total=False):
    symbol: str
    timestamp: str
    bids: list[Level]
    asks: list[Level]
    levels: int
    source: str


Payload = QuotePayload | KLinePayload | TradePayload | DepthPayload


@dataclass(frozen=True, slots=True)
class DataMessage:
    """One market-data message (``market_data``, ``kline_data``, ``trade_data``, ``depth_data``)."""

    type: str
    subscription_id: str
    subject: str
    seq: int  # JetStream stream sequence: the resume point
    data: Payload
    timestamp: str  # when the server sent it
    broker_ms: int  # when the broker stored it (epoch ms)
    snapshot: bool  # the latest value sent at subscribe, not a new message
    delivered: int | None  # ack mode: how many times the broker has delivered it
    history: bool = False  # a closed bar sent first (``history``); its seq is not a resume point

    @property
    def symbol(self) -> str:
        return str(self.data.get("symbol", ""))


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """A ``status`` event: source_down/up, slow_consumer, recovered, shutdown, ..."""

    event: str
    data: dict[str, Any]
    timestamp: str


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """An ``error`` frame that answers no pending request."""

    code: str
    message: str
    data: dict[str, Any]
    request_id: str | int | None


Message = DataMessage | StatusMessage | ErrorMessage


def data_message(frame: dict[str, Any]) -> DataMessage:
    meta = frame.get("metadata") or {}
    return DataMessage(
        type=frame["type"],
        subscription_id=str(meta.get("subscription_id", "")),
        subject=str(meta.get("subject", "")),
        seq=int(meta.get("seq", 0)),
        data=cast(Payload, frame.get("data") or {}),
        timestamp=str(frame.get("timestamp", "")),
        broker_ms=int(meta.get("broker_ms", 0)),
        snapshot=bool(meta.get("snapshot", False)),
        history=bool(meta.get("history", False)),
        delivered=meta.get("delivered"),
    )


def status_message(frame: dict[str, Any]) -> StatusMessage:
    data = frame.get("data") or {}
    return StatusMessage(str(data.get("event", "")), data, str(frame.get("timestamp", "")))


def error_message(frame: dict[str, Any]) -> ErrorMessage:
    data = frame.get("data") or {}
    return ErrorMessage(
        str(data.get("code", "")), str(data.get("message", "")), data, frame.get("id")
    )
