"""The WebSocket envelope and the control messages of PROTOCOL.md, both directions."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from schemas.codes import ErrorCode
from schemas.market import DataType
from schemas.subjects import KLINE_PERIODS
from schemas.timefmt import SHANGHAI, iso_ms

MAX_SYMBOLS_PER_REQUEST = 500
MAX_HISTORY_BARS = 1000  # closed bars one kline subscription may ask for first
MAX_HISTORY_BARS_PER_REQUEST = 10_000  # summed over its symbols: bounds the queued bytes
FREQUENCY_RE = re.compile(r"^([0-9]{1,5})(ms|s|m)$")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}

# Control-path times on the wire: ISO 8601 with milliseconds and +08:00, like every payload.
WireTime = Annotated[datetime, PlainSerializer(iso_ms, return_type=str, when_used="json")]
MIN_THROTTLE_MS = 100
MAX_THROTTLE_MS = 60_000


class MessageType(StrEnum):
    AUTH = "auth"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    MODIFY = "modify"
    LIST_SUBSCRIPTIONS = "list_subscriptions"
    ACK = "ack"
    PING = "ping"
    PONG = "pong"
    STATUS = "status"
    ERROR = "error"
    MARKET_DATA = "market_data"
    KLINE_DATA = "kline_data"
    TRADE_DATA = "trade_data"
    DEPTH_DATA = "depth_data"
    BATCH = "batch"


DATA_MESSAGE_TYPE: dict[DataType, MessageType] = {
    DataType.QUOTE: MessageType.MARKET_DATA,
    DataType.KLINE: MessageType.KLINE_DATA,
    DataType.TRADE: MessageType.TRADE_DATA,
    DataType.DEPTH: MessageType.DEPTH_DATA,
}


class StatusEvent(StrEnum):
    CONNECTED = "connected"
    AUTHENTICATED = "authenticated"
    HEARTBEAT = "heartbeat"
    SOURCE_DOWN = "source_down"
    SOURCE_UP = "source_up"
    SHUTDOWN = "shutdown"
    SLOW_CONSUMER = "slow_consumer"
    RECOVERED = "recovered"
    SUBSCRIPTION_ENDED = "subscription_ended"
    # the bridge lost / regained its connection to NATS (data pauses, then resumes exactly)
    BROKER_DOWN = "broker_down"
    BROKER_UP = "broker_up"
    # per-symbol trading status, forwarded to subscribers of the symbol (schemas.events)
    HALTED = "halted"
    RESUMED = "resumed"
    LIMIT_UP = "limit_up"
    LIMIT_DOWN = "limit_down"
    LIMIT_CLEARED = "limit_cleared"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Envelope(BaseModel):
    """Every frame, both ways. Client frames need only ``type``, ``id`` and ``data``."""

    type: MessageType
    id: str | int | None = Field(default=None, description="echoed on the reply")
    timestamp: datetime | None = Field(default=None, description="server send time")
    data: Any = None
    metadata: dict[str, Any] | None = None


class ClientFrame(BaseModel):
    """The shape every client frame must have before its ``data`` is looked at."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=32)
    id: str | int | None = None
    # an object for every request but ``ping``, whose data is anything (the session checks)
    data: Any = Field(default_factory=dict)

    @model_validator(mode="after")
    def _id_is_small(self) -> ClientFrame:
        if isinstance(self.id, str) and len(self.id) > 64:
            raise ValueError("id longer than 64 characters")
        if isinstance(self.id, int) and not -(2**53) <= self.id <= 2**53:
            raise ValueError("id out of range")
        return self


class ResumeFrom(_Strict):
    """Where a subscription's replay starts: after a stream position, or at an instant."""

    seq: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="last stream sequence processed"
    )
    epoch: str | None = Field(
        default=None, max_length=64, description="stream epoch from `connected` (with seq)"
    )
    time: datetime | None = Field(
        default=None,
        description="replay every message stored from this instant on (ISO 8601; no offset "
        "means Asia/Shanghai), within the stream's retention",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> ResumeFrom:
        if self.time is not None:
            if self.seq is not None or self.epoch is not None:
                raise ValueError("give either 'time' or 'seq' with 'epoch', not both")
            if self.time.tzinfo is None:
                self.time = self.time.replace(tzinfo=SHANGHAI)
        elif self.seq is None or self.epoch is None:
            raise ValueError("give 'seq' with 'epoch', or 'time'")
        return self


def parse_throttle_ms(frequency: str) -> int | None:
    """``tick`` → None; ``500ms``/``1s``/``1m`` → milliseconds; raises ValueError otherwise."""
    if frequency == "tick":
        return None
    match = FREQUENCY_RE.fullmatch(frequency)
    if match is None:
        raise ValueError(
            f"frequency must be 'tick' or a duration like '500ms' or '1s', not {frequency!r}"
        )
    value = int(match.group(1)) * UNIT_MS[match.group(2)]
    if not MIN_THROTTLE_MS <= value <= MAX_THROTTLE_MS:
        raise ValueError(
            f"throttle must be between {MIN_THROTTLE_MS}ms and {MAX_THROTTLE_MS // 1000}s"
        )
    return value


def normalize_frequency(data_type: DataType, frequency: str | None) -> str:
    """Default and check ``frequency`` for a data type: kline periods or quote/depth throttles."""
    if data_type is DataType.KLINE:
        period = frequency or "1m"
        if period not in KLINE_PERIODS:
            raise ValueError(f"kline frequency must be one of {', '.join(KLINE_PERIODS)}")
        return period
    value = frequency or "tick"
    if data_type is DataType.TRADE and value != "tick":
        raise ValueError("trades are delivered tick by tick; frequency must be 'tick'")
    throttle_ms = parse_throttle_ms(value)
    if throttle_ms is not None and value.endswith("m") and not value.endswith("ms"):
        return f"{throttle_ms // 1000}s"  # people write 1m; one spelling per subscription id
    return value


class Filters(_Strict):
    """Optional per-subscription filters."""

    fields: list[str] | None = Field(
        default=None, max_length=64, description="keep only these payload fields (plus symbol)"
    )


class SubscriptionRequest(_Strict):
    symbol: str | None = Field(default=None, max_length=32)
    symbols: list[str] | None = Field(default=None, max_length=MAX_SYMBOLS_PER_REQUEST)
    data_type: DataType = DataType.QUOTE
    frequency: str | None = Field(default=None, max_length=16)
    filters: Filters | None = None
    snapshot: bool = True
    resume_from: ResumeFrom | None = None
    ack: bool = False
    durable: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    batch: bool = True
    history: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY_BARS,
        description="kline only: this many closed bars first, then the live bars (seamless)",
    )

    @model_validator(mode="after")
    def _check(self) -> SubscriptionRequest:
        if (self.symbol is None) == (self.symbols is None):
            raise ValueError("give exactly one of 'symbol' or 'symbols'")
        if self.symbols is not None and not self.symbols:
            raise ValueError("'symbols' is empty")
        if self.symbols is not None and any(len(s) > 32 for s in self.symbols):
            raise ValueError("a symbol is longer than 32 characters")
        self.frequency = normalize_frequency(self.data_type, self.frequency)
        if self.history is not None:
            self._check_history(self.history)
        return self

    def _check_history(self, bars: int) -> None:
        if self.data_type is not DataType.KLINE:
            raise ValueError("'history' is for kline subscriptions")
        if self.resume_from is not None or self.ack:
            raise ValueError("'history' goes with neither 'resume_from' nor 'ack'")
        symbols = self.symbol_list()
        if any("*" in s for s in symbols):
            raise ValueError("'history' needs symbols, not a market wildcard")
        if bars * len(symbols) > MAX_HISTORY_BARS_PER_REQUEST:
            raise ValueError(
                f"'history' x symbols is at most {MAX_HISTORY_BARS_PER_REQUEST} bars a request"
            )

    def symbol_list(self) -> list[str]:
        return [self.symbol] if self.symbol is not None else list(self.symbols or [])


class SubscriptionResponse(BaseModel):
    subscription_id: str | None
    status: Literal["subscribed", "already_subscribed", "modified", "error"]
    message: str
    symbol: str
    data_type: DataType
    frequency: str | None = None
    epoch: str | None = Field(default=None, description="stream epoch for resume_from")
    code: ErrorCode | None = None
    suggestions: list[str] | None = None
    requested: str | None = Field(
        default=None,
        description="the spelling asked for, when `symbol` was read from an alias "
        "(sh600000, 600000.XSHG...)",
    )
    seq: int | None = Field(
        default=None,
        description="stream position the subscription starts after: a resume_from.seq "
        "before any message has arrived (ack-mode responses carry ack/durable/consumer)",
    )


class UnsubscribeRequest(_Strict):
    subscription_ids: list[str] | None = Field(default=None, max_length=MAX_SYMBOLS_PER_REQUEST)
    symbols: list[str] | None = Field(default=None, max_length=MAX_SYMBOLS_PER_REQUEST)
    data_type: DataType | None = None

    @model_validator(mode="after")
    def _check(self) -> UnsubscribeRequest:
        if (self.subscription_ids is None) == (self.symbols is None):
            raise ValueError("give exactly one of 'subscription_ids' or 'symbols'")
        return self


class ModifyRequest(_Strict):
    subscription_id: str = Field(max_length=128)
    frequency: str | None = Field(default=None, max_length=16)
    filters: Filters | None = None


class AckRequest(_Strict):
    subscription_id: str = Field(max_length=128)
    seq: int = Field(ge=1, le=2**63 - 1)


class AuthRequest(_Strict):
    token: str = Field(max_length=8192)


class SubscriptionInfo(BaseModel):
    """One row of ``list_subscriptions``."""

    subscription_id: str
    symbol: str
    data_type: DataType
    frequency: str
    created_at: WireTime
    last_update: WireTime | None
    messages: int
    bytes: int
    last_seq: int
    dropped: int


class LimitInfo(BaseModel):
    name: str
    value: int


class ErrorData(BaseModel):
    code: ErrorCode
    message: str
    suggestions: list[str] | None = None
    limit: LimitInfo | None = None
    retry_after_ms: int | None = Field(default=None, description="back off this long, then retry")


class StatusData(BaseModel):
    """``status`` payload; each event adds its own fields (extra allowed)."""

    model_config = ConfigDict(extra="allow")

    event: StatusEvent
