"""A TCP pass-through whose live connections a test can cut, as a dead network would."""

from __future__ import annotations

import asyncio
import contextlib

from mdbridge.natsserver import free_port


class TcpProxy:
    """Listens on ``port`` and pipes each connection to ``upstream``; ``cut()`` aborts them."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.cuts = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._writers -= {writer, up_writer}
            for w in (writer, up_writer):
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    def freeze(self) -> int:
        """Stop moving bytes on every live connection, leaving it open (a stalled network)."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.pause_reading()  # type: ignore[attr-defined]
        return len(writers)

    def cut(self) -> int:
        """Abort every live connection (an RST, no close frame); returns how many."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        self.cuts += 1
        return len(writers)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
