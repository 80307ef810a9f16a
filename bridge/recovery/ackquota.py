"""Ack-mode durables as a bounded resource: quotas counted on the broker, not in memory.

A durable outlives the connection that made it, so a quota on *open* subscriptions would
not stop a client that subscribes, leaves and comes back under new durable names. The
counts are therefore the consumers that exist on the streams, recognised by name:
``mdb_<principal tag>_...`` (see :func:`bridge.recovery.ackmode.consumer_name`).

Three bounds, checked before a new durable is created (finding an existing one is free):

* per principal, across the market-data streams: ``ack_max_durables_per_principal``;
* per stream, all clients together: ``ack_max_durables_per_stream``;
* headroom: a stream whose consumers are within ``consumer_reserve`` of its
  ``max_consumers`` takes no more client durables, so the bridges' own consumers (shared
  feeds, resumes) always find room.

Names are listed at most once per ``REFRESH_S`` per stream and counted locally in between;
opens are serialised in this process. Bridge replicas racing each other may overshoot a
quota by what they create within one refresh, never without bound.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import APIError

from bridge.errors import AckLimitError, AckModeError
from bridge.settings import BridgeSettings
from schemas import STREAM_BY_TYPE

JS_API = "$JS.API"
CLIENT_DURABLE_PREFIX = "mdb_"
REFRESH_S = 1.0
API_TIMEOUT_S = 2.0
MAX_CONSUMERS_ERR = 10026  # JetStream: the stream's max_consumers is reached


def is_consumer_limit(exc: BaseException) -> bool:
    """Whether the broker refused a consumer because its stream has no room left."""
    return isinstance(exc, APIError) and exc.err_code == MAX_CONSUMERS_ERR


class _Listing:
    __slots__ = ("at", "max_consumers", "names", "total")

    def __init__(self, names: set[str], total: int, max_consumers: int) -> None:
        self.names = names  # client durables (our prefix)
        self.total = total  # every consumer of the stream
        self.max_consumers = max_consumers  # -1: no limit
        self.at = time.monotonic()


class DurableQuota:
    def __init__(self, nc: NatsClient, settings: BridgeSettings) -> None:
        self._nc = nc
        self._settings = settings
        self._lock = asyncio.Lock()
        self._listings: dict[str, _Listing] = {}

    async def admit(
        self, stream: str, name: str, tag: str, create: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``create()`` (which makes durable ``name`` on ``stream``) if the quotas allow.

        Raises :class:`AckLimitError` when one is reached; the count includes ``name`` at once.
        """
        settings = self._settings
        async with self._lock:
            listing = await self._listing(stream)
            mine = CLIENT_DURABLE_PREFIX + tag + "_"
            held = 0
            for other in STREAM_BY_TYPE.values():
                held += sum(1 for n in (await self._listing(other)).names if n.startswith(mine))
            if held >= settings.ack_max_durables_per_principal:
                raise AckLimitError(
                    f"at most {settings.ack_max_durables_per_principal} ack-mode durables per "
                    "user; unsubscribe from some (that deletes them) or let them expire",
                    ("ack_max_durables_per_principal", settings.ack_max_durables_per_principal),
                )
            if len(listing.names) >= settings.ack_max_durables_per_stream:
                raise AckLimitError(
                    f"the bridge holds its maximum of {settings.ack_max_durables_per_stream} "
                    f"ack-mode durables on {stream}; try again later",
                    ("ack_max_durables_per_stream", settings.ack_max_durables_per_stream),
                )
            ceiling = listing.max_consumers - settings.consumer_reserve
            if listing.max_consumers > 0 and listing.total >= ceiling:
                raise AckLimitError(
                    f"{stream} is near its limit of {listing.max_consumers} consumers; the "
                    f"last {settings.consumer_reserve} are kept for the bridge",
                    ("consumer_reserve", settings.consumer_reserve),
                )
            await create()
            listing.names.add(name)
            listing.total += 1

    def forget(self, stream: str, name: str) -> None:
        """A durable this process deleted: stop counting it before the next refresh."""
        listing = self._listings.get(stream)
        if listing is not None and name in listing.names:
            listing.names.discard(name)
            listing.total -= 1

    async def _listing(self, stream: str) -> _Listing:
        listing = self._listings.get(stream)
        if listing is not None and time.monotonic() - listing.at < REFRESH_S:
            return listing
        try:
            info = await self._request(f"{JS_API}.STREAM.INFO.{stream}", b"")
            names: list[str] = []
            while True:
                page = await self._request(
                    f"{JS_API}.CONSUMER.NAMES.{stream}", json.dumps({"offset": len(names)}).encode()
                )
                got = page.get("consumers") or []
                names += got
                if not got or len(names) >= int(page.get("total", 0)):
                    break
        except (NatsError, TimeoutError, ValueError, KeyError) as exc:
            raise AckModeError(f"JetStream did not list the consumers: {exc!r}") from None
        listing = _Listing(
            {n for n in names if n.startswith(CLIENT_DURABLE_PREFIX)},
            int(info["state"].get("consumer_count", len(names))),
            int(info["config"].get("max_consumers", -1)),
        )
        self._listings[stream] = listing
        return listing

    async def _request(self, subject: str, payload: bytes) -> dict[str, Any]:
        msg = await self._nc.request(subject, payload, timeout=API_TIMEOUT_S)
        body: dict[str, Any] = json.loads(msg.data)
        if "error" in body:
            raise ValueError(body["error"].get("description", "JetStream API error"))
        return body
