"""The naive peer: Starlette + encode/broadcaster, what a Python developer would write.

Straight from broadcaster's README: a ``Broadcast``, one subscriber per symbol per
connection, and ``await websocket.send_text`` for every event. broadcaster ships memory,
Redis, Postgres and Kafka backends and takes any other through ``backend=``, so the market
comes in through the smallest NATS backend (core subscriptions per channel, created when
the first subscriber of a channel arrives, as broadcaster's own backends do). It speaks a
subset of mdbridge's protocol (``subscribe`` with ``symbols``; ``market_data`` frames), so
the same generator drives it. Run as ``python -m mdbridge.bench.peer_broadcaster``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import uvicorn
from broadcaster import Broadcast, BroadcastBackend, Event
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from mdbridge.limits import raise_fd_limit


class NatsBackend(BroadcastBackend):
    def __init__(self, url: str) -> None:
        self._url = url
        self._nc: NatsClient | None = None
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._subs: dict[str, Subscription] = {}

    async def connect(self) -> None:
        self._nc = await nats.connect(self._url, name="bench-broadcaster")

    async def disconnect(self) -> None:
        if self._nc is not None:
            await self._nc.drain()

    async def subscribe(self, group: str) -> None:
        assert self._nc is not None
        self._subs[group] = await self._nc.subscribe(group, cb=self._on_msg)

    async def unsubscribe(self, group: str) -> None:
        sub = self._subs.pop(group, None)
        if sub is not None:
            await sub.unsubscribe()

    async def publish(self, channel: str, message: Any) -> None:
        assert self._nc is not None
        await self._nc.publish(channel, str(message).encode())

    async def next_published(self) -> Event:
        return await self._events.get()

    async def _on_msg(self, msg: Msg) -> None:
        await self._events.put(Event(msg.subject, msg.data.decode()))


def create_app(nats_url: str) -> Starlette:
    broadcast = Broadcast(backend=NatsBackend(nats_url))

    async def forward(websocket: WebSocket, channel: str) -> None:
        async with broadcast.subscribe(channel=channel) as subscriber:
            while True:  # what ``async for event in subscriber`` does, typed
                event = await subscriber.get()
                await websocket.send_text('{"type":"market_data","data":' + event.message + "}")

    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        tasks: list[asyncio.Task[None]] = []
        try:
            async for text in websocket.iter_text():
                request = json.loads(text)
                if request.get("type") != "subscribe":
                    continue
                data = request.get("data", {})
                symbols = data.get("symbols") or [data.get("symbol")]
                for symbol in symbols:
                    tasks.append(asyncio.create_task(forward(websocket, f"md.quote.{symbol}")))
                reply = {
                    "type": "subscribe",
                    "id": request.get("id"),
                    "data": {"subscriptions": [{"status": "subscribed"} for _ in symbols]},
                }
                await websocket.send_text(json.dumps(reply))
        finally:
            for task in tasks:
                task.cancel()

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with broadcast:
            yield

    return Starlette(
        routes=[WebSocketRoute("/ws", ws_endpoint), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Starlette + broadcaster peer for mdbridge bench")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nats-url", required=True)
    args = parser.parse_args()
    raise_fd_limit()
    # uvicorn's defaults, as a user would run it: uvloop and the websockets implementation
    # when installed.
    uvicorn.run(
        create_app(args.nats_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
