"""The live connections of this process, and the heartbeat they all share."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator

from bridge.frames import status_frame
from bridge.session import Session
from schemas import StatusEvent

logger = logging.getLogger(__name__)


class Connections:
    def __init__(self, heartbeat_interval_s: float) -> None:
        self._sessions: dict[str, Session] = {}
        self._interval = heartbeat_interval_s
        self._task: asyncio.Task[None] | None = None
        self.opened = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, connection_id: str) -> Session | None:
        return self._sessions.get(connection_id)

    def add(self, session: Session) -> None:
        self._sessions[session.id] = session
        self.opened += 1

    def remove(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        for counter in itertools.count(1):
            await asyncio.sleep(self._interval)
            frame = status_frame(StatusEvent.HEARTBEAT, counter=counter)  # encoded once
            for session in list(self._sessions.values()):
                session.push_frame(frame)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
