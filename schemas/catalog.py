"""Every WebSocket message, both ways, as data: the source of the AsyncAPI document and of
``mdbridge schema``. Adding a MessageType without an entry here fails the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from schemas.filtering import filtered_model
from schemas.market import DataType, DepthData, KLineData, QuoteData, TradeData
from schemas.messages import (
    AckRequest,
    AuthRequest,
    ErrorData,
    LimitInfo,
    MessageType,
    ModifyRequest,
    StatusData,
    SubscriptionInfo,
    SubscriptionRequest,
    SubscriptionResponse,
    UnsubscribeRequest,
)

Direction = Literal["client", "server"]


class EmptyRequest(BaseModel):
    """``list_subscriptions`` takes no arguments."""

    model_config = ConfigDict(extra="allow")


class PingData(RootModel[Any]):
    """Anything (an object, a string, a number...); ``pong`` echoes it back."""


class SubscribeReply(BaseModel):
    subscriptions: list[SubscriptionResponse] = Field(description="one per symbol asked")
    limit: LimitInfo | None = Field(default=None, description="present when the limit was hit")


class UnsubscribeReply(BaseModel):
    removed: list[str]
    not_found: list[str]


class ModifyReply(SubscriptionResponse):
    previous_id: str = Field(description="the subscription id before the change")


class ListSubscriptionsReply(BaseModel):
    subscriptions: list[SubscriptionInfo]
    limit: int = Field(description="max subscriptions per connection")


class DataMetadata(BaseModel):
    """``metadata`` of every data message."""

    model_config = ConfigDict(extra="allow")

    subscription_id: str
    subject: str = Field(description="the NATS subject it was published on")
    seq: int = Field(ge=1, description="JetStream stream sequence")
    broker_ms: int = Field(ge=0, description="when the broker stored it, Unix ms")
    snapshot: bool | None = Field(default=None, description="true on the snapshot-first message")
    replayed: bool | None = Field(default=None, description="true on history sent by a resume")
    delivered: int | None = Field(default=None, description="delivery count (ack mode)")
    history: bool | None = Field(
        default=None,
        description="true on a closed bar sent first for `history`: its seq is the stream's "
        "named in `stream` (MD_BAR_<period> or MD_KLINE), not a resume point",
    )
    stream: str | None = Field(default=None, description="with `history`: where the bar was read")


@dataclass(frozen=True, slots=True)
class MessageSpec:
    kind: MessageType
    direction: Direction
    summary: str
    data: type[BaseModel] | None  # None: the ``batch`` list
    metadata: type[BaseModel] | None = None
    filtered: type[BaseModel] | None = None  # the data's shape under ``filters.fields``

    @property
    def name(self) -> str:
        """``SubscribeRequest`` / ``SubscribeReply`` / ``MarketData`` ..."""
        base = "".join(part.title() for part in self.kind.value.split("_"))
        if self.kind in REQUEST_REPLY:
            return base + ("Request" if self.direction == "client" else "Reply")
        return base

    @property
    def key(self) -> str:
        return f"{self.direction}.{self.kind.value}"


REQUEST_REPLY = frozenset(
    {
        MessageType.SUBSCRIBE,
        MessageType.UNSUBSCRIBE,
        MessageType.MODIFY,
        MessageType.LIST_SUBSCRIPTIONS,
    }
)

MESSAGES: tuple[MessageSpec, ...] = (
    MessageSpec(MessageType.AUTH, "client", "authenticate after connecting", AuthRequest),
    MessageSpec(MessageType.SUBSCRIBE, "client", "subscribe to symbols", SubscriptionRequest),
    MessageSpec(MessageType.UNSUBSCRIBE, "client", "remove subscriptions", UnsubscribeRequest),
    MessageSpec(MessageType.MODIFY, "client", "change frequency or filters", ModifyRequest),
    MessageSpec(MessageType.LIST_SUBSCRIPTIONS, "client", "list subscriptions", EmptyRequest),
    MessageSpec(MessageType.ACK, "client", "confirm everything up to seq (ack mode)", AckRequest),
    MessageSpec(MessageType.PING, "client", "application-level ping", PingData),
    MessageSpec(MessageType.STATUS, "server", "connection and source events", StatusData),
    MessageSpec(MessageType.SUBSCRIBE, "server", "one result per symbol", SubscribeReply),
    MessageSpec(MessageType.UNSUBSCRIBE, "server", "what was removed", UnsubscribeReply),
    MessageSpec(MessageType.MODIFY, "server", "the new subscription", ModifyReply),
    MessageSpec(
        MessageType.LIST_SUBSCRIPTIONS, "server", "every subscription", ListSubscriptionsReply
    ),
    MessageSpec(MessageType.PONG, "server", "echoes the ping's data", PingData),
    MessageSpec(MessageType.ERROR, "server", "a request failed", ErrorData),
    MessageSpec(
        MessageType.MARKET_DATA,
        "server",
        "a Level-1 quote",
        QuoteData,
        DataMetadata,
        filtered_model(DataType.QUOTE),
    ),
    MessageSpec(
        MessageType.KLINE_DATA,
        "server",
        "a bar (closed: final)",
        KLineData,
        DataMetadata,
        filtered_model(DataType.KLINE),
    ),
    MessageSpec(
        MessageType.TRADE_DATA,
        "server",
        "a trade",
        TradeData,
        DataMetadata,
        filtered_model(DataType.TRADE),
    ),
    MessageSpec(
        MessageType.DEPTH_DATA,
        "server",
        "an order book",
        DepthData,
        DataMetadata,
        filtered_model(DataType.DEPTH),
    ),
    MessageSpec(MessageType.BATCH, "server", "several server messages in one frame", None),
)


def _envelope(spec: MessageSpec, data: Any) -> type[BaseModel]:
    server = spec.direction == "server"
    fields: dict[str, Any] = {
        "type": (Literal[spec.kind.value], Field(description=spec.summary)),
        "id": (
            str | int | None,
            Field(default=None, description="echoed on the reply" if server else "request id"),
        ),
        "data": (data, ...),
    }
    if server:
        fields["timestamp"] = (datetime, Field(description="server send time, +08:00"))
    if spec.metadata is not None:
        fields["metadata"] = (spec.metadata, ...)
    model: type[BaseModel] = create_model(
        f"{spec.name}Message",
        __doc__=spec.summary,
        __config__=ConfigDict(extra="allow"),
        **fields,
    )
    return model


@cache
def message_models() -> dict[str, type[BaseModel]]:
    """``{"client.subscribe": SubscribeRequestMessage, ...}``: the envelope of every message."""
    models = {
        spec.key: _envelope(spec, spec.data if spec.filtered is None else spec.data | spec.filtered)
        for spec in MESSAGES
        if spec.data is not None
    }
    inner = tuple(m for key, m in models.items() if key.startswith("server."))
    batch = next(spec for spec in MESSAGES if spec.kind is MessageType.BATCH)
    models[batch.key] = _envelope(batch, list[_union(inner)])  # type: ignore[misc]
    return models


def _union(models: tuple[type[BaseModel], ...]) -> Any:
    union: Any = models[0]
    for model in models[1:]:
        union = union | model
    return union
