"""Graceful shutdown: on SIGTERM the bridge tells its clients, drains NATS, then closes.

uvicorn's own shutdown closes WebSockets with 1012 and nothing more. :class:`DrainingServer`
runs the bridge's sequence first, within ``shutdown_grace_s``:

1. ``/readyz`` answers 503 and new WebSockets are refused (1013), for ``shutdown_delay_s``
   so a load balancer can take the pod out, then the listening sockets close;
2. every client gets ``status shutdown`` with its own jittered ``reconnect_after_ms``;
3. ack pulls, shared feeds and source health stop, and the NATS connection is drained;
4. each connection flushes what is queued and closes with 1012.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket

import uvicorn

from bridge.core.frames import status_frame
from bridge.core.sockets import SocketLedger
from bridge.runtime import Runtime
from schemas import CloseCode, StatusEvent

logger = logging.getLogger(__name__)

CUT_MARGIN_S = 0.5  # before the grace ends: what is left of it is for uvicorn and the lifespan


async def drain(runtime: Runtime, deadline: float | None = None) -> None:
    """Notify, drain NATS and close every connection by ``deadline`` (loop time)."""
    settings = runtime.settings
    loop = asyncio.get_running_loop()
    if deadline is None:
        deadline = loop.time() + settings.shutdown_grace_s
    runtime.draining = True
    sessions = list(runtime.connections)
    logger.info("draining %d connections", len(sessions))
    low = settings.shutdown_reconnect_min_ms
    high = max(low, settings.shutdown_reconnect_max_ms)
    for session in sessions:
        session.push_frame(
            status_frame(
                StatusEvent.SHUTDOWN,
                reason="server restarting",
                reconnect_after_ms=random.randint(low, high),  # noqa: S311 (jitter, not a secret)
            )
        )
    runtime.reliability.acks.close()
    await runtime.reliability.sources.close()
    await runtime.status_board.close()
    if runtime.symbol_status is not None:
        await runtime.symbol_status.close()
    await runtime.hub.close()
    await runtime.directory.close()
    if runtime.owns_nc and not runtime.nc.is_closed:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(max(0.1, (deadline - loop.time()) / 2)):
                await runtime.nc.drain()
    for session in runtime.connections:
        session.end(CloseCode.SERVICE_RESTART, "server restarting")
    await runtime.connections.wait_empty(max(0.0, deadline - loop.time()))
    logger.info("drained; %d connections left to uvicorn", len(runtime.connections))


class DrainingServer(uvicorn.Server):
    """uvicorn, with the bridge's drain before uvicorn's own shutdown."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)  # the Starlette app of create_app
        runtime: Runtime | None = getattr(state, "runtime", None)
        ledger: SocketLedger | None = getattr(state, "sockets", None)
        loop = asyncio.get_running_loop()
        cut: asyncio.TimerHandle | None = None
        if runtime is not None and not self.force_exit:
            deadline = loop.time() + runtime.settings.shutdown_grace_s
            if ledger is not None:
                # Whatever the clients do (a stalled reader never takes its close frame and
                # its socket never drains), every socket is cut just before the grace ends.
                cut = loop.call_at(deadline - CUT_MARGIN_S, self._cut, ledger)
            runtime.draining = True
            delay = runtime.settings.shutdown_delay_s
            if delay:
                await asyncio.sleep(delay)
            for server in self.servers:  # no new connections from here on
                server.close()
            await drain(runtime, deadline - CUT_MARGIN_S)
            self.config.timeout_graceful_shutdown = max(0, math.floor(deadline - loop.time()))
        try:
            await super().shutdown(sockets)
        finally:
            if cut is not None:
                cut.cancel()

    @staticmethod
    def _cut(ledger: SocketLedger) -> None:
        left = ledger.abort_all()
        if left:
            logger.warning("shutdown grace ending: cut %d connections that did not close", left)
