"""A WebSocket client that misbehaves on purpose: it reads only when told, never pongs.

Built on the ``websockets`` sans-I/O protocol over a raw socket, so nothing reads the
socket behind the test's back: when the test does not call :meth:`recv`, the kernel buffers
fill up and the server sees a client that stopped reading (and cannot answer pings).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class SlowReader:
    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self._sock = sock
        self._protocol = protocol
        self._frames: list[dict[str, Any]] = []
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str, *, rcvbuf: int | None = None) -> SlowReader:
        uri = parse_uri(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # a small window makes the server's sends back up sooner
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (uri.host, uri.port))
        protocol = ClientProtocol(uri)
        protocol.send_request(protocol.connect())
        client = cls(sock, protocol)
        await client._flush()
        while protocol.handshake_exc is None and not any(
            isinstance(e, Response) for e in client._collect()
        ):
            await client._read()
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return client

    def _collect(self) -> list[object]:
        events: list[object] = []
        for event in self._protocol.events_received():
            events.append(event)
            if not isinstance(event, Frame):
                continue
            if event.opcode is Opcode.TEXT:
                frame = orjson.loads(event.data)
                self._frames.extend(frame["data"] if frame["type"] == "batch" else [frame])
            elif event.opcode is Opcode.CLOSE and self._protocol.close_rcvd is not None:
                self.close_code = self._protocol.close_rcvd.code
        return events

    async def _read(self) -> bool:
        data = await asyncio.get_running_loop().sock_recv(self._sock, 65536)
        if not data:
            self._protocol.receive_eof()
            return False
        self._protocol.receive_data(data)
        return True

    async def _flush(self) -> None:
        # Only what the test sends: pongs the protocol queues on its own are sent too, but
        # only when the test reads, so a client that does not read never answers a ping.
        data = b"".join(self._protocol.data_to_send())
        if data:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)

    async def send(self, type_: str, data: Any, request_id: str = "r") -> None:
        self._protocol.send_text(orjson.dumps({"type": type_, "id": request_id, "data": data}))
        await self._flush()

    async def recv(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next envelope (batches unpacked); None once the connection has ended."""
        async with asyncio.timeout(timeout):
            while not self._frames:
                if not await self._read():
                    self._collect()
                    return self._frames.pop(0) if self._frames else None
                self._collect()
                await self._flush()
        return self._frames.pop(0)

    async def read_paced(
        self, bytes_per_s: float, seconds: float, chunk: int = 2048
    ) -> list[tuple[float, dict[str, Any]]]:
        """Read at about ``bytes_per_s`` for ``seconds``: each envelope with its arrival time.

        The time is the epoch ms at which the bytes completing the frame were read.
        """
        loop = asyncio.get_running_loop()
        received: list[tuple[float, dict[str, Any]]] = []
        end = loop.time() + seconds
        while loop.time() < end:
            began = loop.time()
            try:
                async with asyncio.timeout(max(0.01, end - began)):
                    data = await loop.sock_recv(self._sock, chunk)
            except TimeoutError:
                break
            if not data:
                self._protocol.receive_eof()
                self._collect()
                break
            self._protocol.receive_data(data)
            self._collect()
            now_ms = time.time() * 1000
            received.extend((now_ms, frame) for frame in self._frames)
            self._frames.clear()
            await self._flush()
            await asyncio.sleep(max(0.0, len(data) / bytes_per_s - (loop.time() - began)))
        return received

    async def drain(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Everything until the server closes the connection."""
        frames = []
        while (frame := await self.recv(timeout)) is not None:
            frames.append(frame)
        return frames

    def close(self) -> None:
        self._sock.close()
