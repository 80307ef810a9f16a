"""The WebSocket side of access control: admit a connection, then guard it while it lives.

:func:`admit`, in order: the browser ``Origin`` (refused with HTTP 403 before the handshake
completes), the connection rate of the client's IP, the token of the handshake if any (header,
``bearer.<token>`` subprotocol or ``?token=``), the ``md:read`` scope, then the connection
counts by IP, token subject and priority tier. Refusals after the handshake are an ``error``
frame followed by a close: 4001 (token), 4003 (scope), 1013 (limits, with ``retry_after_ms``).

A :class:`Guard` then holds the connection's principal, its frame budget, the deadline for
its auth frame and the expiry of its token (the connection closes with 4001 when its token
expires, unless an ``auth`` frame brought a fresh one for the same subject).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from bridge.access.admission import FrameLimiter, Ticket
from bridge.access.policy import Access, bearer_subprotocol, bearer_token
from bridge.access.principal import PENDING, Principal, PrincipalKind, Scope
from bridge.core.frames import error_frame
from bridge.errors import AccessDeniedError, AuthError
from bridge.ws.session import Session
from bridge.ws.validation import parse_data, peek_id
from schemas import AuthRequest, CloseCode, ErrorCode, MessageType, StatusEvent

logger = logging.getLogger(__name__)

MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: 125 bytes of payload, 2 of them the code


def close_reason(text: str) -> str:
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


async def refuse(
    websocket: WebSocket, denied: AccessDeniedError, subprotocol: str | None = None
) -> int:
    """Tell the client why (an ``error`` frame), then close with the denial's code."""
    with contextlib.suppress(Exception):
        if websocket.application_state == WebSocketState.CONNECTING:
            # Browsers drop a handshake that does not echo the subprotocol they offered,
            # and would never see the close code.
            await websocket.accept(subprotocol=subprotocol)
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.send_text(
                error_frame(
                    denied.code,
                    denied.message,
                    denied.request_id,
                    limit=denied.limit,
                    retry_after_ms=denied.retry_after_ms,
                )
            )
            await websocket.close(code=denied.close_code, reason=close_reason(denied.reason))
    return int(denied.close_code)


async def admit(websocket: WebSocket, access: Access) -> Guard | None:
    """Accept the connection and return its guard, or refuse it and return None."""
    headers = websocket.headers
    ip = websocket.client.host if websocket.client else "unknown"
    if not access.origin_allowed(headers.get("origin"), headers.get("host")):
        logger.info("refused a connection from %s: origin not allowed", ip)
        await websocket.close(code=CloseCode.FORBIDDEN)  # before accept: HTTP 403
        return None
    subprotocol = bearer_subprotocol(headers.get("sec-websocket-protocol", ""))
    principal: Principal = access.anonymous
    try:
        access.admission.check_rate(ip)
        if access.auth_enabled:
            token = bearer_token(headers, websocket.query_params)
            principal = PENDING if token is None else access.authenticate(token)
        if not principal.pending:
            access.require(principal, Scope.READ)
        ticket = access.admission.enter(ip, principal)
    except AccessDeniedError as exc:
        logger.info("refused a connection from %s: %s", ip, exc.reason)
        await refuse(websocket, exc, subprotocol)
        return None
    try:
        await websocket.accept(subprotocol=subprotocol)
    except BaseException:
        access.admission.leave(ticket)
        raise
    return Guard(access, ticket, principal, ip)


class Guard:
    def __init__(self, access: Access, ticket: Ticket, principal: Principal, ip: str) -> None:
        self._access = access
        self._ip = ip
        self._ticket = ticket
        self.principal = principal
        self._limiter = FrameLimiter(access.settings)
        self._wake = asyncio.Event()
        self._denied: AccessDeniedError | None = None
        self._session: Session | None = None
        self._auth_deadline = asyncio.get_running_loop().time() + access.settings.auth_timeout_s

    @property
    def auth_required(self) -> bool:
        return self._access.auth_enabled

    def limits(self) -> dict[str, int | float]:
        return self._access.limits(self.principal)

    def bind(self, session: Session) -> None:
        """Give the session its principal and its auth-frame handler (after ``connected``)."""
        self._session = session
        session.principal = self.principal
        session.peer_ip = self._ip
        session.on_auth = self.on_auth_frame
        if self.principal.kind is PrincipalKind.TOKEN:  # the handshake carried the token
            session.reply(MessageType.STATUS, self._authenticated(), None)

    def _authenticated(self) -> dict[str, Any]:
        return {
            "event": StatusEvent.AUTHENTICATED.value,
            **self.principal.describe(),
            "limits": self.limits(),  # the token may change them (max_subscriptions, tier)
        }

    def on_frame(self, text: str | None) -> str | None:
        """None: serve the frame. Otherwise the error frame to send instead (frame dropped),
        carrying the dropped frame's ``id`` when it has one.

        Raises AccessDeniedError (4008) for a client that keeps ignoring the limit.
        """
        if self._limiter.allow():
            return None
        s = self._access.settings
        request_id = peek_id(text) if text is not None and len(text) <= s.max_frame_bytes else None
        return error_frame(
            ErrorCode.RATE_LIMITED,
            f"more than {s.frames_per_s} frames/s (burst {s.frame_burst}): frame dropped",
            request_id,
            limit=("frames_per_s", s.frames_per_s),
        )

    async def on_auth_frame(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        request = parse_data(AuthRequest, data)
        session = self._session
        if session is None:
            return
        if not self._access.auth_enabled:
            session.reply(MessageType.STATUS, self._authenticated(), request_id)
            return
        try:
            principal = self._access.authenticate(request.token)
            self._access.require(principal, Scope.READ)
            if self.principal.pending:
                self._access.admission.identify(self._ticket, principal)
            elif principal.subject != self.principal.subject:
                raise AuthError(
                    "token subject changed", "a connection keeps the subject it started with"
                )
        except AccessDeniedError as exc:
            exc.request_id = request_id
            self._denied = exc  # watch() raises it; the endpoint closes the connection
            self._wake.set()
            return
        self.principal = session.principal = principal
        self._wake.set()
        session.reply(MessageType.STATUS, self._authenticated(), request_id)

    async def watch(self) -> None:
        """Raise AccessDeniedError when the connection must end: auth timeout, expiry, bad auth."""
        loop = asyncio.get_running_loop()
        while True:
            if self._denied is not None:
                raise self._denied
            timeout: float | None
            if self.principal.pending:
                timeout = self._auth_deadline - loop.time()
                if timeout <= 0:
                    seconds = self._access.settings.auth_timeout_s
                    raise AuthError("auth timeout", f"no auth frame within {seconds:g}s")
            else:
                deadline = self._access.expiry_deadline(self.principal)
                timeout = None if deadline is None else deadline - time.time()
                if timeout is not None and timeout <= 0:
                    raise AuthError(
                        "token expired",
                        "the connection's token expired; send a fresh one in an auth frame "
                        "before it does",
                    )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def release(self) -> None:
        self._access.admission.leave(self._ticket)
