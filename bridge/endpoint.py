"""The ``/ws`` endpoint: accept, announce, read frames, write frames, clean up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bridge.core.frames import error_frame, status_frame
from bridge.core.framesink import SINK_EXTENSION
from bridge.core.sockets import TRANSPORT_EXTENSION, SocketLedger
from bridge.errors import AccessDeniedError, PolicyViolationError, SlowConsumerError
from bridge.observe.observability import watch
from bridge.runtime import VERSION, Runtime
from bridge.ws.gate import Guard, admit, refuse
from bridge.ws.session import Session
from schemas import CloseCode, ErrorCode, StatusEvent
from schemas.messages import MAX_SYMBOLS_PER_REQUEST

logger = logging.getLogger(__name__)


def _limits(runtime: Runtime) -> dict[str, int]:
    s = runtime.settings
    return {
        "max_subscriptions": s.max_subscriptions,
        "max_frame_bytes": s.max_frame_bytes,
        "max_symbols_per_request": MAX_SYMBOLS_PER_REQUEST,
        "queue_max_bytes": s.queue_max_bytes,
        "queue_max_age_ms": round(s.queue_max_age_ms),
        "batch_max_messages": s.batch_max_messages,
        "batch_max_bytes": s.batch_max_bytes,
    }


async def websocket_endpoint(websocket: WebSocket) -> None:  # noqa: C901 (one flow, top to bottom: see pyproject)
    runtime: Runtime = websocket.app.state.runtime
    if runtime.draining:
        await websocket.close(code=CloseCode.TRY_AGAIN_LATER, reason="server draining")
        return
    guard = await admit(websocket, websocket.app.state.access)  # accepts, or refuses: None
    if guard is None:
        return
    session = Session(
        websocket.send_text,
        runtime.hub,
        runtime.directory,
        runtime.settings,
        reliability=runtime.reliability,
    )
    runtime.connections.add(session)
    session.push_frame(
        status_frame(
            StatusEvent.CONNECTED,
            connection_id=session.id,
            server_version=VERSION,
            heartbeat_interval_s=runtime.settings.heartbeat_interval_s,
            limits={**_limits(runtime), **guard.limits()},
            epochs=runtime.hub.epochs,
            auth_required=guard.auth_required,
        )
    )
    guard.bind(session)
    sink = websocket.scope.get("extensions", {}).get(SINK_EXTENSION)
    if sink is not None:
        session.go_direct(sink, runtime.flusher)
    watch(websocket, session)  # metrics, log context, control-path spans; before the tasks
    writer = asyncio.create_task(session.run_writer())
    reader = asyncio.create_task(_read(websocket, session, runtime, guard))
    watcher = asyncio.create_task(guard.watch())
    ended = session.ended
    waited: set[asyncio.Future[Any]] = {writer, reader, watcher, ended}
    close_code: int | None = None
    try:
        done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        session.stop_direct()  # closing: what is left goes out through the writer task
        if ended in done:  # the server closes: slow consumer, dead peer or shutdown
            close_code, reason = ended.result()
            await _end(websocket, session, writer, close_code, reason)
        for task in done - {ended}:
            exc = task.exception()
            if close_code is not None:
                break
            if isinstance(exc, SlowConsumerError):
                close_code = await _close_slow_consumer(websocket, session, str(exc))
            elif isinstance(exc, PolicyViolationError):
                close_code = CloseCode.POLICY_VIOLATION
                writer.cancel()  # the error frame goes out alone, then the close
                await _send_now(websocket, error_frame(ErrorCode.FRAME_TOO_LARGE, str(exc)))
                await _close(websocket, close_code, str(exc))
            elif isinstance(exc, AccessDeniedError):
                close_code = await refuse(websocket, exc)
            elif (
                exc is not None
                and not isinstance(exc, WebSocketDisconnect)
                and websocket.application_state != WebSocketState.DISCONNECTED  # not closed by us
            ):
                logger.error("connection %s failed", session.id, exc_info=exc)
    finally:
        for task in (writer, reader, watcher):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(writer, reader, watcher, return_exceptions=True)
        guard.release()
        session.close()
        runtime.connections.remove(session)
        logger.debug("connection %s closed (%s)", session.id, close_code)


async def _read(websocket: WebSocket, session: Session, runtime: Runtime, guard: Guard) -> None:
    max_bytes = runtime.settings.max_frame_bytes
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        refused = guard.on_frame(text)  # rate limit; raises AccessDeniedError for repeat offenders
        if refused is not None:
            session.push_frame(refused)
            continue
        if text is None:
            session.push_frame(
                error_frame(ErrorCode.BAD_REQUEST, "frames must be UTF-8 JSON text, not binary")
            )
            continue
        if len(text) > max_bytes and len(text.encode()) > max_bytes:
            raise PolicyViolationError(f"frame larger than {max_bytes} bytes")
        await session.handle(text)
        await asyncio.sleep(0)  # frames already queued must not keep other clients waiting


async def _send_now(websocket: WebSocket, text: str) -> None:
    """One last frame before a close, bypassing the queue; a stalled peer does not hold us."""
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_close_timeout(websocket)):
                await websocket.send_text(text)


def _close_timeout(websocket: WebSocket) -> float:
    runtime: Runtime = websocket.app.state.runtime
    return runtime.settings.close_timeout_s


def _cut_at(websocket: WebSocket, deadline: float) -> None:
    """Abort the socket at ``deadline`` (loop time) unless the close completed by then.

    A peer that stopped reading never takes the close frame, and a transport closed with
    unsent bytes is never released: without this its file descriptor would leak.
    """
    transport = websocket.scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    ledger: SocketLedger | None = getattr(websocket.app.state, "sockets", None)
    if transport is None or ledger is None:
        return
    loop = asyncio.get_running_loop()
    loop.call_at(max(deadline, loop.time()), ledger.abort, transport)


async def _close(websocket: WebSocket, code: int, reason: str, deadline: float = 0.0) -> None:
    """Send the close frame by ``deadline`` (default: the close timeout from now), then cut."""
    loop = asyncio.get_running_loop()
    deadline = deadline or loop.time() + _close_timeout(websocket)
    if websocket.application_state != WebSocketState.DISCONNECTED:
        # a peer that stopped reading blocks the close frame too: give up at the deadline
        with contextlib.suppress(Exception):
            async with asyncio.timeout_at(deadline):
                await websocket.close(code=code, reason=reason[:120])
    _cut_at(websocket, deadline)


async def _end(
    websocket: WebSocket, session: Session, writer: asyncio.Task[None], code: int, reason: str
) -> None:
    """Close on the server's initiative; what is queued (a shutdown notice) goes out first."""
    if code == CloseCode.SLOW_CONSUMER:
        writer.cancel()
        await _close_slow_consumer(websocket, session, reason)
        return
    timeout = _close_timeout(websocket)
    deadline = asyncio.get_running_loop().time() + 2 * timeout
    await session.outbox.wait_below(0, timeout)
    for _ in range(int(timeout / 0.01)):  # let the writer finish the frame it took
        if not session.sending_since:
            break
        await asyncio.sleep(0.01)
    writer.cancel()
    await _close(websocket, code, reason, deadline)


async def _close_slow_consumer(websocket: WebSocket, session: Session, reason: str) -> int:
    """Tell the client why (ahead of anything queued), close with 4009, cut at the deadline."""
    deadline = asyncio.get_running_loop().time() + _close_timeout(websocket)
    dropped = {key: m.dropped for key, m in session.memberships.items() if m.dropped}
    session.outbox.clear()
    with contextlib.suppress(Exception, WebSocketDisconnect):
        async with asyncio.timeout_at(deadline):
            await websocket.send_text(
                status_frame(
                    StatusEvent.SLOW_CONSUMER, reason=reason, dropped=dropped, action="closed"
                )
            )
    await _close(websocket, CloseCode.SLOW_CONSUMER, "slow consumer", deadline)
    return CloseCode.SLOW_CONSUMER
