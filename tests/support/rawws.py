"""A raw-socket WebSocket client: hand-made handshakes and (broken) frames, RFC 6455 bytes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x0, 0x1, 0x2, 0x8, 0x9


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    """One frame; ``length`` overrides the header's payload length (to lie about it)."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def handshake(
        cls, port: int, *, host: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, RawWebSocket]:
        """Open ``/ws``; returns the HTTP status of the handshake and the socket."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: {host or f'127.0.0.1:{port}'}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status = int(response.split(b" ", 2)[1])
        return status, cls(reader, writer)

    async def read_frame(self) -> tuple[int, bytes] | None:
        """The next server frame (opcode, payload), or None at end of stream."""
        try:
            b0, b1 = await self.reader.readexactly(2)
            size = b1 & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return b0 & 0x0F, await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Skip data frames until the server's close frame; its code (None: no close frame)."""
        async with asyncio.timeout(timeout):
            while True:
                got = await self.read_frame()
                if got is None:
                    return None
                opcode, payload = got
                if opcode == OP_CLOSE:
                    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005

    async def at_eof(self, timeout: float = 10.0) -> bool:
        """True once the server has closed the TCP connection."""
        async with asyncio.timeout(timeout):
            while await self.read_frame() is not None:
                pass
        return True

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
