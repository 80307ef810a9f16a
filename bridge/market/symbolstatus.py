"""Per-symbol status events (halted, limit_up, ...) to the connections subscribed to the symbol.

Adapters publish them on ``md.status.symbol.<code>.<market>`` (schemas.events). They are rare,
so one ordered consumer on ``MD_STATUS`` (new messages only; what the bridge's NATS user may
read) serves them outside the data path: each event is encoded once and pushed to every
session holding a subscription on the symbol or on its market wildcard.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from bridge.core.channel import Membership
from bridge.core.frames import control_frame
from schemas import STATUS_STREAM, MessageType
from schemas.events import SymbolEvent
from schemas.subjects import SYMBOL_STATUS_PREFIX
from schemas.symbols import is_symbol

logger = logging.getLogger(__name__)

EVENTS = frozenset(event.value for event in SymbolEvent)
MAX_PAYLOAD = 4096


class Subscriber(Protocol):
    """What this module needs of a session."""

    @property
    def memberships(self) -> dict[str, Membership]: ...

    def push_frame(self, text: str) -> None: ...


def wants(session: Subscriber, symbol: str) -> bool:
    wildcard = "*." + symbol.rpartition(".")[2]
    return any(m.channel.symbol in (symbol, wildcard) for m in session.memberships.values())


class SymbolStatusForwarder:
    def __init__(self, js: JetStreamContext, sessions: Iterable[Subscriber]) -> None:
        self._js = js
        self._sessions = sessions
        self._sub: JetStreamContext.PushSubscription | None = None
        self.forwarded = 0

    async def start(self) -> None:
        self._sub = await self._js.subscribe(
            f"{SYMBOL_STATUS_PREFIX}.>",
            stream=STATUS_STREAM,
            cb=self._on_event,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_event(self, msg: Msg) -> None:
        data = self._validated(msg.data)
        if data is None:
            logger.warning("ignoring a malformed status event on %s", msg.subject)
            return
        frame = control_frame(MessageType.STATUS, data)  # encoded once for every session
        for session in self._sessions:
            if wants(session, data["symbol"]):
                session.push_frame(frame)
                self.forwarded += 1

    @staticmethod
    def _validated(raw: bytes) -> dict[str, Any] | None:
        if len(raw) > MAX_PAYLOAD:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("event") not in EVENTS:
            return None
        symbol = data.get("symbol")
        return data if isinstance(symbol, str) and is_symbol(symbol) else None
