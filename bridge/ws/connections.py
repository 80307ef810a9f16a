"""The live connections of this process, the heartbeat they all share, and their watchdog."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterator

from bridge.core.frames import status_frame
from bridge.ws.session import Session
from schemas import CloseCode, StatusEvent

logger = logging.getLogger(__name__)


class Connections:
    def __init__(self, heartbeat_interval_s: float, send_timeout_s: float = 30.0) -> None:
        self._sessions: dict[str, Session] = {}
        self._interval = heartbeat_interval_s
        self._send_timeout_s = send_timeout_s
        self._tasks: list[asyncio.Task[None]] = []
        self._empty = asyncio.Event()
        self._empty.set()
        self.opened = 0
        self.stalled = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, connection_id: str) -> Session | None:
        return self._sessions.get(connection_id)

    def add(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._empty.clear()
        self.opened += 1

    def remove(self, session: Session) -> None:
        self._sessions.pop(session.id, None)
        if not self._sessions:
            self._empty.set()

    async def wait_empty(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def broadcast(self, frame: str) -> None:
        """One control frame, encoded once, to every connection."""
        for session in list(self._sessions.values()):
            session.push_frame(frame)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._watch())]

    async def _heartbeats(self) -> None:
        for counter in itertools.count(1):
            await asyncio.sleep(self._interval)
            self.broadcast(status_frame(StatusEvent.HEARTBEAT, counter=counter))

    async def _watch(self) -> None:
        """Close connections whose writer has been stuck in one send for too long.

        A peer that stops reading fills the socket buffers; its writer then waits forever,
        and a WebSocket ping cannot get through either. This is what ends such a connection.
        """
        period = min(1.0, self._send_timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for session in list(self._sessions.values()):
                since = session.sending_since
                if since and now - since > self._send_timeout_s and not session.ended.done():
                    self.stalled += 1
                    logger.info(
                        "closing a connection that stopped reading",
                        extra={"connection_id": session.id},
                    )
                    session.end(
                        CloseCode.SLOW_CONSUMER, f"send blocked for {self._send_timeout_s:g}s"
                    )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
