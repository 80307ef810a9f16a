"""One HPUB written straight into nats-py's outgoing buffer: the adapter's hot path.

``Client.publish`` validates the subject and every header key with regular expressions and
builds the frame header by header, about 5 µs of a ~12 µs publish at the Level-2 opening
peak. The publisher's subjects and header values come from the data, so this module checks
only what could break the framing (spaces, control characters) and writes one
``bytes %`` formatted frame through the client's own pending buffer, so its reconnect
buffering and flusher behave exactly as for ``Client.publish``.

Uses private members of nats-py 2.16 (``_send_command``, ``_flush_pending``, ``_flush_queue``,
``_status``, ``_max_payload``, ``_pending_data_size``, ``_max_pending_size``,
``_process_msg``); pyproject pins nats-py to 2.16 for this and for the bridge's parser, and
tests/test_publisher_window.py runs these paths against a real server, through a killed
server and its reconnect.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping

from nats.aio.client import Client
from nats.errors import (
    BadHeaderError,
    BadSubjectError,
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    OutboundBufferLimitError,
)

HEADER_LINE = b"NATS/1.0\r\n"


def _check(token: str, error: type[Exception]) -> str:
    # isprintable() is False for CR, LF, tab and other controls: what would split the frame
    if not token or " " in token or not token.isprintable():
        raise error(token)
    return token


def header_block(headers: Mapping[str, str]) -> bytes:
    """``NATS/1.0`` headers as bytes; a value's CR or LF would end it early: refused."""
    lines = [HEADER_LINE]
    for key, value in headers.items():
        _check(key, BadHeaderError)
        if "\r" in value or "\n" in value:
            raise BadHeaderError(key)
        lines.append(b"%s: %s\r\n" % (key.encode(), value.strip().encode()))
    lines.append(b"\r\n")
    return b"".join(lines)


async def send_hpub(nc: Client, subject: str, reply: bytes, header: bytes, data: bytes) -> None:
    """Queue one message with headers and a reply subject, as ``Client.publish`` would."""
    _check(subject, BadSubjectError)
    size = len(data)
    if nc._status != _CONNECTED or size > nc._max_payload:
        _refuse(nc, size)  # raises, unless reconnecting with room left to buffer
    header_size = len(header)
    frame = b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
        subject.encode(),
        reply,
        header_size,
        header_size + size,
        header,
        data,
    )
    stats = nc.stats
    stats["out_msgs"] += 1
    stats["out_bytes"] += size
    await nc._send_command(frame)
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


_CONNECTED = Client.CONNECTED


def _refuse(nc: Client, size: int) -> None:
    """``Client.publish``'s checks, off the hot path: only when not plainly connected."""
    if nc.is_closed:
        raise ConnectionClosedError
    if nc.is_draining_pubs:
        raise ConnectionDrainingError
    if size > nc.max_payload:
        raise MaxPayloadError
    if not nc.is_connected and (
        nc._max_pending_size <= 0 or size + nc._pending_data_size > nc._max_pending_size
    ):
        raise OutboundBufferLimitError  # reconnecting with no room left to buffer


ReplyHandler = Callable[[bytes, bytes, bytes], None]  # subject, payload, raw headers (or empty)


class ReplyRouter:
    """Replies to a publisher's inbox, handed straight from the parser to a plain function.

    nats-py turns every incoming message into a ``Msg`` (header parsing included), queues it
    and wakes the subscription's task to await its callback: about 2 µs per PubAck, a fifth of
    the publisher's cost at full rate. The router sits in front of ``Client._process_msg``
    (one per connection, installed on first use) and routes only its own subscriptions' sids;
    every other message takes nats-py's usual path. Subscriptions keep their sid across
    reconnects (nats-py resends the same ``SUB``), so the routing survives them.
    """

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._handlers: dict[int, ReplyHandler] = {}
        self._next = nc._process_msg
        nc._process_msg = self._process  # type: ignore[method-assign]

    @classmethod
    def of(cls, nc: Client) -> ReplyRouter:
        router = _ROUTERS.get(nc)
        if router is None:
            router = _ROUTERS[nc] = cls(nc)
        return router

    async def subscribe(self, subject: str, handler: ReplyHandler) -> None:
        sub = await self._nc.subscribe(subject)  # no callback: nats-py never sees its messages
        self._handlers[sub._id] = handler

    async def _process(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        handler = self._handlers.get(sid)
        if handler is None:
            await self._next(sid, subject, reply, data, headers)
            return
        stats = self._nc.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, data, headers)


_ROUTERS: weakref.WeakKeyDictionary[Client, ReplyRouter] = weakref.WeakKeyDictionary()
