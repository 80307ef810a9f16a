"""The mdbridge Python client: ``websockets`` and ``orjson`` only, no server dependencies.

from mdbridge.client import MarketDataClient

async with MarketDataClient(["ws://bridge-a:8000/ws", "ws://bridge-b:8000/ws"]) as client:
    await client.subscribe(["600000.SH", "000001.SZ"], "quote")
    async for message in client:
        ...
"""

from __future__ import annotations

from mdbridge.client.client import MarketDataClient
from mdbridge.client.errors import (
    ClientError,
    ConnectionLostError,
    NotConnectedError,
    RefusedError,
    RequestError,
)
from mdbridge.client.messages import (
    DataMessage,
    DepthPayload,
    ErrorMessage,
    KLinePayload,
    Message,
    QuotePayload,
    StatusMessage,
    TradePayload,
)
from mdbridge.client.state import SubscriptionState
from processkit.backoff import Backoff

__all__ = [
    "Backoff",
    "ClientError",
    "ConnectionLostError",
    "DataMessage",
    "DepthPayload",
    "ErrorMessage",
    "KLinePayload",
    "MarketDataClient",
    "Message",
    "NotConnectedError",
    "QuotePayload",
    "RefusedError",
    "RequestError",
    "StatusMessage",
    "SubscriptionState",
    "TradePayload",
]
