"""Helpers for access-control tests: what a refused client saw before and at the close."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.support.wsclient import Frame, WsClient


@dataclass
class Ending:
    frames: list[Frame]
    code: int | None
    reason: str

    @property
    def error(self) -> Frame:
        errors = [f for f in self.frames if f["type"] == "error"]
        assert errors, f"no error frame before the close: {self.frames}"
        return errors[-1]


async def ending(client: WsClient, timeout: float = 10.0) -> Ending:
    """Read until the server closes; return every frame and the close code and reason."""
    frames: list[Frame] = []
    try:
        while True:
            frames.append(await client.next(timeout))
    except ConnectionClosed:
        pass
    return Ending(frames, client.conn.close_code, client.conn.close_reason or "")


async def open_refused(url: str, **kwargs: Any) -> Ending:
    client = await WsClient.open(url, **kwargs)
    return await ending(client)


def bearer(token: str) -> dict[str, Any]:
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}
