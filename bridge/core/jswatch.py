"""Leave a NATS server through which JetStream no longer answers.

A server cut off from its cluster peers keeps its clients: their pings are answered, so
nats-py sees nothing wrong, yet every JetStream request through it fails (no meta leader,
no stream leader) and the shared feeds starve. The watch asks JetStream a cheap question
every ``interval_s``; after ``failures`` misses in a row it moves the connection to another
server of the pool (``force_reconnect``), where the reconnect path resumes every feed from
its last sequence. Alone with one server there is nowhere to go, and it only logs.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError

from processkit.failover import move_off, server_of

logger = logging.getLogger(__name__)


class JetStreamWatch:
    def __init__(self, nc: NatsClient, interval_s: float, failures: int) -> None:
        self._nc = nc
        self._interval_s = interval_s
        self._failures = failures
        self._task: asyncio.Task[None] | None = None
        self.moves = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jetstream-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _answers(self) -> bool:
        try:
            await self._nc.jetstream(timeout=self._interval_s).account_info()
        except (TimeoutError, NatsError, JetStreamError):
            return False
        return True

    async def _run(self) -> None:
        misses = 0
        while True:
            await asyncio.sleep(self._interval_s)
            if not self._nc.is_connected:
                misses = 0  # reconnecting already
                continue
            misses = 0 if await self._answers() else misses + 1
            if misses < self._failures:
                continue
            misses = 0
            await self._move()

    async def _move(self) -> None:
        left = server_of(self._nc)
        if len(self._nc.servers) < 2:
            logger.warning("JetStream does not answer through %s (no other server)", left)
            return
        logger.warning("JetStream does not answer through %s: moving to another server", left)
        self.moves += 1
        await move_off(self._nc)
