"""A minimal WebSocket client for the load generator: handshake, frames, masking, deflate.

The ``websockets`` sans-io parser costs about 10 µs per frame; slicing frames out of one
buffer costs about 1 µs, so the generator stays cheap and the server is what gets measured.
Only what a benchmark client needs is here: text/binary messages, fragmentation, ping/pong,
close, and permessage-deflate (RFC 7692) for the compression comparison.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from typing import Protocol, cast

from mdbridge.bench.errors import HandshakeError

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE_TAIL = b"\x00\x00\xff\xff"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Handler(Protocol):
    def on_open(self, ws: WsClientProtocol) -> None: ...

    def on_message(self, data: bytes, recv_ns: int) -> None: ...

    def on_close(self, code: int | None, error: str | None) -> None: ...


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return data
    stream = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ stream).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: FIN set, masked with a random key, as RFC 6455 requires."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WsClientProtocol(asyncio.Protocol):
    """One client connection; ``opened`` resolves after the handshake, ``closed`` at the end."""

    def __init__(
        self, host: str, port: int, path: str, handler: Handler, *, deflate: bool = False
    ) -> None:
        self._request_host = f"{host}:{port}"
        self._path = path
        self._handler = handler
        self._offer_deflate = deflate
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._open = False
        self._transport: asyncio.Transport | None = None
        self._fragments: list[bytes] = []
        self._fragment_deflated = False
        self._inflater: zlib._Decompress | None = None
        self._reset_inflater = False
        self.deflate = False
        self.bytes_in = 0
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int | None] = loop.create_future()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        lines = [
            f"GET {self._path} HTTP/1.1",
            f"Host: {self._request_host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        recv_ns = time.time_ns()
        self.bytes_in += len(data)
        self._buf += data
        if not self._open:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            del self._buf[: end + 4]
            try:
                self._accept(head)
            except HandshakeError as exc:
                self._fail(str(exc))
                return
            self._open = True
            self.opened.set_result(None)
            self._handler.on_open(self)
        self._parse(recv_ns)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)
            self._handler.on_close(None, repr(exc) if exc else None)

    # -- the handshake -----------------------------------------------------------------------

    def _accept(self, head: str) -> None:
        status, *header_lines = head.split("\r\n")
        if not status.startswith("HTTP/1.1 101"):
            raise HandshakeError(f"handshake refused: {status}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        # RFC 6455 fixes SHA-1 for the handshake; it guards nothing here
        digest = hashlib.sha1(self._key + GUID, usedforsecurity=False).digest()
        expected = base64.b64encode(digest).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            if not self._offer_deflate:
                raise HandshakeError("server chose permessage-deflate without an offer")
            self.deflate = True
            self._reset_inflater = "server_no_context_takeover" in extensions
            self._inflater = zlib.decompressobj(-15)

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        if self._transport is not None:
            self._transport.close()

    # -- frames ------------------------------------------------------------------------------

    def _parse(self, recv_ns: int) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            self._frame(b0, payload, recv_ns)
        if pos:
            del buf[:pos]

    def _frame(self, b0: int, payload: bytes, recv_ns: int) -> None:
        opcode = b0 & 0x0F
        if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if opcode != OP_CONT:
                self._fragment_deflated = bool(b0 & 0x40)
            if not b0 & 0x80:  # not final: keep the fragment
                self._fragments.append(payload)
                return
            if self._fragments:
                self._fragments.append(payload)
                payload = b"".join(self._fragments)
                self._fragments = []
            if self._fragment_deflated:
                payload = self._inflate(payload)
            self._handler.on_message(payload, recv_ns)
        elif opcode == OP_PING:
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            if not self.closed.done():
                self.closed.set_result(code)
                self._handler.on_close(code, None)
            self.send_frame(OP_CLOSE, payload[:2])
            if self._transport is not None:
                self._transport.close()

    def _inflate(self, payload: bytes) -> bytes:
        if self._inflater is None:
            raise HandshakeError("compressed frame without permessage-deflate")
        data = self._inflater.decompress(payload + DEFLATE_TAIL)
        if self._reset_inflater:
            self._inflater = zlib.decompressobj(-15)
        return data

    # -- sending -----------------------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_frame(opcode, payload))

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_binary(self, data: bytes) -> None:
        self.send_frame(OP_BINARY, data)

    def close(self, code: int = 1000) -> None:
        self.send_frame(OP_CLOSE, code.to_bytes(2, "big"))
        if self._transport is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(1.0, self._transport.close)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
