"""Writing pre-built WebSocket frames straight to a connection's transport.

A channel's members all receive identical bytes, and a server's frames are not masked
(RFC 6455 §5.1), so a data frame is built once per message (:func:`text_frame`, cached on the
queue item) and written to each member's transport as it is. This bypasses the per-message
ASGI ``send`` path (Starlette's and the access log's wrappers, uvicorn's ``send``, a
``websockets`` Frame serialised per member) while Starlette stays the app and uvicorn the
server: the WebSocket protocol class (:func:`bridge.core.sockets.guarded_protocols`) hands its
:class:`FrameSink` to the app in the ASGI scope (:data:`SINK_EXTENSION`).

Only uvicorn's ``websockets-sansio`` protocol is supported (its ``conn``, ``writable`` and
``close_sent`` are read, hence uvicorn's upper bound in pyproject.toml), and only when no
extension (permessage-deflate) was negotiated; otherwise there is no sink and frames take the
ASGI path.
"""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.protocol import Protocol

SINK_EXTENSION = "mdbridge.sink"  # scope["extensions"] key: the connection's FrameSink
_HEAD_7 = bytes([0x81])  # FIN + text opcode
_HEAD_16 = bytes([0x81, 126])
_HEAD_64 = bytes([0x81, 127])


def text_frame(data: bytes) -> bytes:
    """A complete, unmasked, unfragmented text frame carrying ``data`` (UTF-8)."""
    n = len(data)
    if n < 126:
        return _HEAD_7 + bytes((n,)) + data
    if n < 65536:
        return _HEAD_16 + n.to_bytes(2, "big") + data
    return _HEAD_64 + n.to_bytes(8, "big") + data


class FrameSink:
    """One connection's transport, for frames that are already complete."""

    __slots__ = ("_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._transport: asyncio.Transport = protocol.transport
        self._writable: asyncio.Event = protocol.writable

    @classmethod
    def of(cls, protocol: Any) -> FrameSink | None:
        """A sink for ``protocol`` when it is the kind this module knows and its frames need
        no transformation (no extension negotiated: extensions are settled by the handshake's
        response, before the app runs); else None."""
        conn = getattr(protocol, "conn", None)
        known = isinstance(conn, Protocol) and all(
            hasattr(protocol, name) for name in ("writable", "close_sent", "transport")
        )
        return cls(protocol) if known and not conn.extensions else None  # type: ignore[union-attr]

    @property
    def usable(self) -> bool:
        """Neither closed by the app nor closing (peer gone, close under way)."""
        return not self._protocol.close_sent and not self._transport.is_closing()

    @property
    def writable(self) -> bool:
        """False while the transport's buffer is over its high-water mark (flow control)."""
        return self._writable.is_set()

    def ready(self) -> bool:
        """Usable and writable: one call on the per-flush path."""
        return (
            self._writable.is_set()
            and not self._protocol.close_sent
            and not self._transport.is_closing()
        )

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)

    def write_many(self, frames: list[bytes]) -> None:
        """Several frames in one call (one system call when the socket takes them)."""
        self._transport.writelines(frames)
