"""``MarketDataClient``: an asyncio client of the mdbridge WebSocket protocol that loses nothing.

It reconnects on its own (exponential backoff with full jitter, rotating through the bridge
URLs it was given), resumes every subscription from the last sequence it received, honours
``shutdown`` hints, watches the server's heartbeats, and helps with ack mode. Needs only
``websockets`` and ``orjson``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from mdbridge.client.errors import (
    ConnectionLostError,
    NotConnectedError,
    RefusedError,
    RequestError,
)
from mdbridge.client.messages import (
    DATA_TYPES,
    DataMessage,
    Message,
    data_message,
    error_message,
    status_message,
)
from mdbridge.client.state import OnReply, Subscriptions, SubscriptionState
from processkit.backoff import Backoff

logger = logging.getLogger(__name__)

Frame = dict[str, Any]

MAX_SYMBOLS_PER_REQUEST = 500
FATAL_REFUSALS = frozenset({"UNAUTHORIZED", "FORBIDDEN"})  # retrying cannot help
STABLE_AFTER_S = 5.0  # a connection that lived this long resets the backoff


class MarketDataClient:
    """Connect, subscribe, iterate: ``async for message in client: ...``."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        token: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        heartbeat_timeout_s: float | None = None,
        request_timeout_s: float = 10.0,
        queue_size: int = 10_000,
        compression: bool = False,
        dedupe: bool = True,
    ) -> None:
        self._urls = [urls] if isinstance(urls, str) else list(urls)
        if not self._urls:
            raise ValueError("give at least one bridge URL")
        self._token = token
        self._reconnect = reconnect
        self._backoff = backoff or Backoff()
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._request_timeout_s = request_timeout_s
        self._compression = compression
        self._dedupe = dedupe
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(queue_size)
        self._pending: dict[str, tuple[asyncio.Future[Frame], OnReply | None]] = {}
        self._ids = itertools.count(1)
        self._conn: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._gave_up = asyncio.Event()  # the connection loop ended for good
        self._refused: RefusedError | None = None
        self._url_index = 0
        self._reconnect_hint_ms: int | None = None
        self._last_frame_at = 0.0
        self.subscriptions = Subscriptions()
        self.url: str | None = None
        self.connection_id: str | None = None
        self.epochs: dict[str, str] = {}
        self.heartbeat_interval_s = 15.0
        self.connections = 0
        self.duplicates = 0
        self.close_codes: list[int | None] = []  # how each connection ended (1012: restart)

    # -- lifecycle ------------------------------------------------------------------------

    async def connect(self, timeout: float = 30.0) -> MarketDataClient:
        """Start, and wait for the first connection (retrying within ``timeout``)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        await self.wait_connected(timeout)
        return self

    async def wait_connected(self, timeout: float) -> None:
        if self._refused is not None:
            raise NotConnectedError(f"refused: {self._refused}")
        if self._connected.is_set():
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._connected, self._gave_up)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self._refused is not None:
            raise NotConnectedError(f"refused: {self._refused}")
        if not self._connected.is_set():
            raise NotConnectedError(f"no bridge reachable at {self._urls}")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._connected.clear()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # ends iteration

    async def __aenter__(self) -> MarketDataClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while (message := await self._queue.get()) is not None:
            yield message

    async def recv(self, timeout: float | None = None) -> Message:
        """The next message; raises TimeoutError, or ConnectionLostError once closed."""
        async with asyncio.timeout(timeout):
            message = await self._queue.get()
        if message is None:
            raise ConnectionLostError("the client is closed")
        return message

    # -- requests -------------------------------------------------------------------------

    async def subscribe(
        self,
        symbols: str | Sequence[str],
        data_type: str = "quote",
        *,
        frequency: str | None = None,
        fields: Sequence[str] | None = None,
        snapshot: bool = True,
        ack: bool = False,
        durable: str | None = None,
        batch: bool = True,
        since: datetime | None = None,
        history: int | None = None,
    ) -> list[dict[str, Any]]:
        """Subscribe; returns one result per symbol (``status`` subscribed or error).

        ``since`` replays every message of the subscription stored from that instant (naive:
        Asia/Shanghai) within the stream's retention, then continues live; ``status
        recovered`` marks the seam. ``history`` (klines): that many closed bars first, then
        the live bars, seamless.
        """
        symbol_list = [symbols] if isinstance(symbols, str) else list(symbols)
        request: dict[str, Any] = {"symbols": symbol_list, "data_type": data_type}
        request |= {"snapshot": snapshot, "batch": batch}
        if since is not None:
            request["resume_from"] = {"time": since.isoformat()}
        if history is not None:
            request["history"] = history
        if frequency is not None:
            request["frequency"] = frequency
        if fields is not None:
            request["filters"] = {"fields": list(fields)}
        if ack:
            request |= {"ack": True, "durable": durable}
        template = SubscriptionState(
            subscription_id="",
            symbol="",
            data_type=data_type,
            frequency=frequency or "",
            fields=tuple(fields) if fields is not None else None,
            snapshot=snapshot,
            ack=ack,
            durable=durable,
            batch=batch,
            since=since.isoformat() if since is not None else None,
        )
        reply = await self._request("subscribe", request, self.subscriptions.registrar(template))
        results: list[dict[str, Any]] = reply["data"]["subscriptions"]
        return results

    async def unsubscribe(self, subscription_ids: Sequence[str]) -> dict[str, Any]:
        reply = await self._request("unsubscribe", {"subscription_ids": list(subscription_ids)})
        for key in reply["data"].get("removed", []):
            self.subscriptions.pop(key, None)
        result: dict[str, Any] = reply["data"]
        return result

    async def modify(
        self,
        subscription_id: str,
        *,
        frequency: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"subscription_id": subscription_id}
        if frequency is not None:
            request["frequency"] = frequency
        if fields is not None:
            request["filters"] = {"fields": list(fields)}
        reply = await self._request("modify", request)
        data: dict[str, Any] = reply["data"]
        state = self.subscriptions.pop(data.get("previous_id", subscription_id), None)
        if state is not None:
            state.subscription_id = data["subscription_id"]
            state.frequency = data.get("frequency") or state.frequency
            if fields is not None:
                state.fields = tuple(fields)
            self.subscriptions[state.subscription_id] = state
        return data

    async def list_subscriptions(self) -> list[dict[str, Any]]:
        reply = await self._request("list_subscriptions", {})
        rows: list[dict[str, Any]] = reply["data"]["subscriptions"]
        return rows

    async def ping(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self._request("ping", data or {})
        pong: dict[str, Any] = reply["data"]
        return pong

    async def ack(self, message: DataMessage) -> None:
        """Confirm ``message`` and everything before it on its subscription (ack mode)."""
        data = {"subscription_id": message.subscription_id, "seq": message.seq}
        await self._send({"type": "ack", "data": data})

    async def _request(
        self, type_: str, data: dict[str, Any], on_reply: OnReply | None = None
    ) -> Frame:
        """Send a request and await its reply; sent again if the connection is lost first.

        (Every request of the protocol may be repeated: subscribing twice answers
        ``already_subscribed``, unsubscribing twice ``not_found``.)
        """
        deadline = asyncio.get_running_loop().time() + self._request_timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            await self.wait_connected(max(0.0, remaining))
            try:
                reply = await self._exchange(type_, data, on_reply, remaining)
                break
            except ConnectionLostError:
                if asyncio.get_running_loop().time() >= deadline or self._closing:
                    raise
        if reply["type"] == "error":
            error = reply.get("data") or {}
            raise RequestError(str(error.get("code")), str(error.get("message")), error)
        return reply

    async def _exchange(
        self, type_: str, data: dict[str, Any], on_reply: OnReply | None, timeout: float
    ) -> Frame:
        request_id = f"q{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, on_reply)
        try:
            await self._send({"type": type_, "id": request_id, "data": data})
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._pending.pop(request_id, None)

    async def _send(self, frame: Frame) -> None:
        conn = self._conn
        if conn is None:
            raise ConnectionLostError("not connected")
        try:
            await conn.send(orjson.dumps(frame).decode())
        except ConnectionClosed as exc:
            raise ConnectionLostError(str(exc)) from None

    # -- the connection loop --------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._closing:
            url = self._urls[self._url_index % len(self._urls)]
            started = loop.time()
            try:
                await self._connection(url)
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                logger.info("connection to %s failed: %r", url, exc)
            except RefusedError as exc:
                logger.info("%s refused the connection: %s", url, exc)
                if exc.code in FATAL_REFUSALS:  # a token the server will never take
                    self._refused = exc
                    await self._queue.put(exc.message)
                    break
            except Exception:  # a bug must not end reconnecting for good
                logger.exception("connection to %s ended with an error", url)
            finally:
                self._lost()
            self._url_index += 1  # a bridge that failed may be gone: try the next one first
            if self._closing or not self._reconnect:
                break
            if loop.time() - started > STABLE_AFTER_S:
                attempt = 0
            delay = self._backoff.delay(attempt)
            attempt += 1
            if self._reconnect_hint_ms is not None:  # the server said when (shutdown, capacity)
                delay = max(delay, self._reconnect_hint_ms / 1000)
                self._reconnect_hint_ms = None
            await asyncio.sleep(delay)
        self._gave_up.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _connection(self, url: str) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        async with connect(
            url,
            additional_headers=headers,
            max_size=None,
            compression="deflate" if self._compression else None,
            open_timeout=self._request_timeout_s,
        ) as conn:
            first = orjson.loads(await asyncio.wait_for(conn.recv(), self._request_timeout_s))
            frames = first["data"] if first.get("type") == "batch" else [first]
            data = frames[0].get("data") or {}  # status connected comes first
            if frames[0].get("type") == "error":  # refused: auth, or limits (with a retry hint)
                hint = data.get("retry_after_ms")
                self._reconnect_hint_ms = int(hint) if isinstance(hint, int) else None
                raise RefusedError(error_message(frames[0]))
            self.url, self.connection_id = url, data.get("connection_id")
            self.epochs = data.get("epochs") or {}
            self.heartbeat_interval_s = float(data.get("heartbeat_interval_s") or 15.0)
            self._conn = conn
            self.connections += 1
            self._last_frame_at = asyncio.get_running_loop().time()
            for frame in frames[1:]:
                await self._dispatch(frame)
            reader = asyncio.create_task(self._read(conn))
            watchdog = asyncio.create_task(self._watch(conn))
            try:
                await self._resume_all()
                self._connected.set()
                await reader
            finally:
                watchdog.cancel()
                reader.cancel()
                self.close_codes.append(conn.close_code)

    def _lost(self) -> None:
        self._conn = None
        self._connected.clear()
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLostError("connection lost"))

    async def _resume_all(self) -> None:
        """Subscribe again to everything, each from the last sequence received."""
        requests = self.subscriptions.resume_requests(MAX_SYMBOLS_PER_REQUEST)
        if not requests:
            return
        results = await asyncio.gather(
            *(self._resubscribe(request) for request in requests), return_exceptions=True
        )
        for result in results:
            if isinstance(result, ConnectionLostError):
                raise result

    async def _resubscribe(self, request: dict[str, Any]) -> None:
        template = SubscriptionState(subscription_id="", symbol="", data_type="", frequency="")
        request_id = f"q{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, self.subscriptions.registrar(template))
        try:
            await self._send({"type": "subscribe", "id": request_id, "data": request})
            async with asyncio.timeout(self._request_timeout_s):
                await future
        finally:
            self._pending.pop(request_id, None)

    async def _watch(self, conn: ClientConnection) -> None:
        """No frame at all for a few heartbeat periods: the connection is dead; drop it."""
        loop = asyncio.get_running_loop()
        while True:
            limit = self._heartbeat_timeout_s or max(1.0, 3 * self.heartbeat_interval_s)
            await asyncio.sleep(limit / 4)
            if loop.time() - self._last_frame_at > limit:
                logger.warning("no heartbeat from %s for %.1fs; reconnecting", self.url, limit)
                conn.transport.abort()
                return

    async def _read(self, conn: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for raw in conn:
                self._last_frame_at = loop.time()
                frame = orjson.loads(raw)
                for inner in frame["data"] if frame.get("type") == "batch" else [frame]:
                    await self._dispatch(inner)

    async def _dispatch(self, frame: Frame) -> None:  # noqa: C901 (one flow, top to bottom: see pyproject)
        kind = frame.get("type")
        if kind in DATA_TYPES:
            message = data_message(frame)
            state = self.subscriptions.get(message.subscription_id)
            if state is not None and not state.accept(message):
                self.duplicates += 1
                if self._dedupe:
                    return
            await self._queue.put(message)
            return
        pending = self._pending.get(str(frame.get("id"))) if "id" in frame else None
        if pending is not None:
            future, on_reply = pending
            if on_reply is not None and kind != "error":
                on_reply(frame)
            if not future.done():
                future.set_result(frame)
            return
        if kind == "error":
            await self._queue.put(error_message(frame))
        elif kind == "status":
            status = status_message(frame)
            if status.event == "shutdown":
                self._reconnect_hint_ms = int(status.data.get("reconnect_after_ms") or 0)
            self.subscriptions.on_status(status)
            if status.event != "heartbeat":
                await self._queue.put(status)
