"""A steady publisher of quotes that keeps going through broker outages.

Every message is published with its own ``Nats-Msg-Id`` and retried until JetStream acks
it, so an outage delays messages but never loses or doubles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from schemas import DataType, data_subject
from tests.support.market import payload_for


async def _quiet(exc: Exception) -> None:
    """Outages are the point of the tests that use this; no need to log each refusal."""


class Feeder:
    def __init__(self, nats_url: str, symbols: list[str], rate_per_s: float) -> None:
        self._url = nats_url
        self._symbols = symbols
        self._interval = 1 / rate_per_s
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0
        self.retries = 0

    async def start(self) -> Feeder:
        self._nc = await nats.connect(
            self._url,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            connect_timeout=2,
            error_cb=_quiet,
        )
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._nc is not None
        js = self._nc.jetstream()
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for n in itertools.count():
            if self._stopping:
                return
            symbol = self._symbols[n % len(self._symbols)]
            subject = data_subject(DataType.QUOTE, symbol)
            body = orjson.dumps(payload_for(DataType.QUOTE, symbol, 10 + n % 100 / 100))
            headers = {"Nats-Msg-Id": f"feeder-{id(self)}-{n}"}
            while True:
                try:
                    await js.publish(subject, body, headers=headers, timeout=1.0)
                    break
                except (NatsError, TimeoutError):
                    self.retries += 1
                    await asyncio.sleep(0.1)
            self.published += 1
            next_at += self._interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def stop(self) -> int:
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 30)
        if self._nc is not None:
            await self._nc.close()
        return self.published
