"""A thin test client over the real ``websockets`` library, written from PROTOCOL.md."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.support.framecheck import check_frame

Frame = dict[str, Any]
DATA_TYPES = {"market_data", "kline_data", "trade_data", "depth_data"}


class WsClient:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._pending: deque[Frame] = deque()
        self._ids = itertools.count(1)
        self.received_at: dict[int, float] = {}

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> WsClient:
        return cls(await connect(url, max_size=None, **kwargs))

    async def send(self, type_: str, data: Any = None, **extra: Any) -> str:
        request_id = f"r{next(self._ids)}"
        frame = {"type": type_, "id": request_id, "data": data if data is not None else {}}
        await self.conn.send(orjson.dumps(frame | extra).decode())
        return request_id

    async def next(self, timeout: float = 5.0) -> Frame:
        """The next envelope, with ``batch`` frames unpacked in order."""
        while not self._pending:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
            frame = orjson.loads(raw)
            check_frame(frame)  # every frame a test receives matches /asyncapi.json
            stamp = time.time()
            frames = frame["data"] if frame["type"] == "batch" else [frame]
            for inner in frames:
                inner["_received"] = stamp
            self._pending.extend(frames)
        return self._pending.popleft()

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.next(remaining)
            if predicate(frame):
                return frame

    async def reply(self, request_id: str, timeout: float = 10.0) -> Frame:
        return await self.wait_for(lambda f: f.get("id") == request_id, timeout)

    async def request(self, type_: str, data: Any = None, timeout: float = 10.0) -> Frame:
        return await self.reply(await self.send(type_, data), timeout)

    async def data(self, timeout: float = 10.0) -> Frame:
        return await self.wait_for(lambda f: f["type"] in DATA_TYPES, timeout)

    async def close(self) -> None:
        await self.conn.close()
