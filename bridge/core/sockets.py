"""Every client socket accounted for, from accept to close: caps and deadlines.

uvicorn's protocols leave three ways for a client to make the bridge hold a socket:

* a connection that never completes its HTTP request (or WebSocket upgrade) is kept forever;
* a transport closed with unsent bytes (a peer that stopped reading) is only released once
  they are sent, which for a stalled peer is never: its file descriptor leaks;
* sockets that are not (or no longer) a WebSocket session escape the per-IP limit.

:class:`SocketLedger` closes the three: uvicorn's HTTP and WebSocket protocol classes are
wrapped (:func:`guarded_protocols`) so that every accepted socket is counted per client IP
(refused over ``max_connections_per_ip`` + :data:`SOCKET_HEADROOM`), cut when it has not sent a
complete request within ``handshake_timeout_s``, and aborted when it has been closing for
``close_timeout_s``. The WebSocket protocol also bounds what a connection holds in socket
buffers (``send_buffer_bytes``: the transport's high-water mark plus the kernel's
``TCP_NOTSENT_LOWAT``) and hands its transport to the app (:data:`TRANSPORT_EXTENSION`), so
the endpoint can abort a close that does not go through, and, for uvicorn's
``websockets-sansio`` protocol, a :class:`~bridge.core.framesink.FrameSink` to write pre-built
frames through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from typing import Any

from bridge.core.framesink import SINK_EXTENSION, FrameSink

logger = logging.getLogger(__name__)

TRANSPORT_EXTENSION = "mdbridge.transport"  # scope["extensions"] key: the asyncio transport
SOCKET_HEADROOM = 10  # sockets per IP beyond its WebSocket limit: REST, handshakes in flight
SWEEP_PERIOD_S = 0.5
REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class _Entry:
    __slots__ = ("closing_since", "ip")

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.closing_since = 0.0


class SocketLedger:
    """The sockets of one server. uvloop's transports are not asyncio.Transport subclasses
    (no isinstance checks here), but they have the same methods."""

    def __init__(
        self,
        *,
        max_per_ip: int,
        handshake_timeout_s: float,
        close_timeout_s: float,
        send_buffer_bytes: int,
        proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.max_per_ip = max_per_ip + SOCKET_HEADROOM if max_per_ip and "*" not in proxies else 0
        self.proxies = proxies  # a trusted proxy carries many clients: not capped
        self.handshake_timeout_s = handshake_timeout_s
        self.close_timeout_s = close_timeout_s
        self.send_buffer_bytes = send_buffer_bytes
        self._open: dict[asyncio.Transport, _Entry] = {}
        self.by_ip: Counter[str] = Counter()
        self.refused = 0  # sockets refused over the per-IP cap
        self.handshake_timeouts = 0
        self.aborted = 0  # closes that did not complete in time
        self._sweeper: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, transport: asyncio.Transport) -> bool:
        """Count a new socket in; False (and refused) when its address is over the cap."""
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if self.max_per_ip and self.by_ip[ip] >= self.max_per_ip and ip not in self.proxies:
            self.refused += 1
            transport.write(REFUSAL)
            transport.close()
            self._track(transport, ip)  # until it is gone: the sweep aborts a stuck refusal
            return False
        self._track(transport, ip)
        return True

    def _track(self, transport: asyncio.Transport, ip: str) -> None:
        if transport in self._open:
            return
        self._open[transport] = _Entry(ip)
        self.by_ip[ip] += 1
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_PERIOD_S, self._sweep)

    def closed(self, transport: asyncio.Transport) -> None:
        entry = self._open.pop(transport, None)
        if entry is None:
            return
        self.by_ip[entry.ip] -= 1
        if self.by_ip[entry.ip] <= 0:
            del self.by_ip[entry.ip]

    def _sweep(self) -> None:
        """Abort every transport that has been closing for longer than the close deadline."""
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        for transport, entry in list(self._open.items()):
            if not transport.is_closing():
                continue
            if not entry.closing_since:
                entry.closing_since = now
            elif now - entry.closing_since >= self.close_timeout_s:
                self.abort(transport)
        if self._open:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_PERIOD_S, self._sweep)

    def abort(self, transport: asyncio.Transport) -> None:
        if transport in self._open:
            self.aborted += 1
            transport.abort()

    def abort_all(self) -> int:
        """Cut every socket still open (the end of a shutdown grace); how many."""
        left = list(self._open)
        for transport in left:
            self.abort(transport)
        return len(left)

    def handshake_expired(self, transport: asyncio.Transport) -> None:
        self.handshake_timeouts += 1
        self.abort(transport)

    def bound_buffers(self, transport: asyncio.Transport) -> None:
        """Hold at most ``send_buffer_bytes`` of unsent data: half here, half in the kernel.

        ``TCP_NOTSENT_LOWAT`` rather than a small ``SO_SNDBUF``: it bounds only what the kernel
        holds *unsent* (what goes stale for a slow reader), while bytes in flight still grow
        with the path; ``SO_SNDBUF`` would also cap throughput at buffer / RTT and switch off
        the kernel's autotuning.
        """
        half = self.send_buffer_bytes // 2
        transport.set_write_buffer_limits(high=half)
        sock = transport.get_extra_info("socket")
        lowat = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        if sock is not None and lowat is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, lowat, half)


def _hand_over(protocol: Any) -> None:
    """Put the WebSocket's transport (and frame sink, when it can have one) in its scope."""
    extensions = protocol.scope.setdefault("extensions", {})
    extensions[TRANSPORT_EXTENSION] = protocol.transport
    sink = FrameSink.of(protocol)
    if sink is not None:
        extensions[SINK_EXTENSION] = sink


def guarded_protocols(
    http: type[asyncio.Protocol], ws: type[asyncio.Protocol], ledger: SocketLedger
) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
    """uvicorn's HTTP and WebSocket protocol classes, reporting to ``ledger``."""

    def http_made(self: Any, transport: asyncio.Transport) -> None:
        if not ledger.opened(transport):
            self.refused = True
            self.transport = transport
            return
        self.refused = False
        http.connection_made(self, transport)
        self.handshake_timer = self.loop.call_later(
            ledger.handshake_timeout_s, http_handshake_due, self
        )

    def http_handshake_due(self: Any) -> None:
        transport = self.transport
        # Still this protocol's (not upgraded to a WebSocket) and no request ever completed.
        if transport.get_protocol() is self and self.cycle is None:
            logger.info("cut a connection that sent no complete request in time")
            ledger.handshake_expired(transport)

    def http_lost(self: Any, exc: Exception | None) -> None:
        if not self.refused:
            self.handshake_timer.cancel()
            http.connection_lost(self, exc)
        ledger.closed(self.transport)

    def ws_made(self: Any, transport: asyncio.Transport) -> None:
        ws.connection_made(self, transport)
        ledger.bound_buffers(transport)

    async def ws_run_asgi(self: Any) -> None:
        _hand_over(self)
        await ws.run_asgi(self)  # type: ignore[attr-defined]

    def ws_lost(self: Any, exc: Exception | None) -> None:
        ws.connection_lost(self, exc)
        ledger.closed(self.transport)

    guarded_http = type(
        f"Guarded{http.__name__}",
        (http,),
        {"connection_made": http_made, "connection_lost": http_lost},
    )
    guarded_ws = type(
        f"Guarded{ws.__name__}",
        (ws,),
        {"connection_made": ws_made, "connection_lost": ws_lost, "run_asgi": ws_run_asgi},
    )
    return guarded_http, guarded_ws
