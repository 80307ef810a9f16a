"""Finding frames in any order: frames of other streams may arrive first, and are kept."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.support.wsclient import Frame, WsClient


class FrameLog:
    def __init__(self, ws: WsClient, url: str = "") -> None:
        self.ws = ws
        self.url = url  # the bridge's, for a second connection
        self.kept: list[Frame] = []

    async def find(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        """The first frame, kept or new, that matches; the others stay kept."""
        for index, frame in enumerate(self.kept):
            if predicate(frame):
                return self.kept.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.ws.next(remaining)
            if predicate(frame):
                return frame
            self.kept.append(frame)
