"""What the runtime expects of a data-source adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from services.publisher import Publisher
    from services.settings import AdapterSettings


class SourceStatus(TypedDict):
    """The adapter's part of every ``md.status.<source_id>`` message."""

    phase: str  # a schemas.TradingPhase value: the market phase as the source sees it
    symbols: int  # how many symbols it is publishing
    # -- optional: sources with an upstream link (xtquant) report its health --
    healthy: NotRequired[bool]  # False: the upstream is down or silent (status event "down")
    detail: NotRequired[str]  # why, when not healthy
    received: NotRequired[int]  # data items received from upstream so far (silence checks)


class Adapter(Protocol):
    """A data source. Built from the settings; the runner owns NATS, streams and status.

    ``run`` publishes through ``publisher`` until ``stop`` is set (or the source is
    exhausted, e.g. a replay), then returns; it raises ``SourceError`` when the source fails.
    It sets ``ready`` once data flows, which the runner announces as the ``up`` status.
    """

    source_id: str
    ready: asyncio.Event

    def status(self) -> SourceStatus: ...

    async def run(
        self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event
    ) -> None: ...


AdapterFactory = Callable[["AdapterSettings"], Adapter]
