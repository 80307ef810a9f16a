"""The bridge's NATS client: nats-py, with faster parsing of messages and their headers.

A replay moves 100,000+ messages a second through nats-py's pure-Python protocol parser,
which was the largest single cost of a resume (docs/benchmarks.md):

* nats-py 2.x parses each header block with a generator testing every character of every
  header name for whitespace, and every stored message carries ``Nats-Msg-Id`` and
  ``traceparent``. :func:`parse_header_lines` returns the same dict using ``str.split``.
* Its ``Parser`` tries a ``MSG`` regex, then an ``HMSG`` one, on every message and copies
  each slice twice. :class:`MessageParser` reads ``MSG``/``HMSG`` control lines by
  splitting them, walks a read's whole buffer before trimming it once, and hands every other
  line (PING, INFO, -ERR...) to nats-py's parser.
* A subscription made with :func:`subscribe_raw` skips nats-py's message path entirely (header
  dict, ``Msg`` object, the subscription's queue and task): the parser hands its sink each
  run of consecutive messages of a read as one list of raw parts, from the read loop, in
  stream order. Pull consumers (resume, ack mode) use it: per-message work is then one loop.

Property tests hold the parser to nats-py's own results, and :func:`internals_match` checks
at start-up that the nats-py internals this relies on are there; when they are not (another
nats-py), the bridge runs on plain nats-py. A host app that lends its own connection
(bridge/embed.py) keeps its client as it is; :func:`subscribe_raw` then adapts ``Msg``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

logger = logging.getLogger(__name__)

_CRLF = b"\r\n"
_MESSAGE_ARITY = {b"MSG": (4, 5), b"HMSG": (5, 6)}  # fields on the line, without and with reply
_STATUS_LINE = b"NATS/1.0"

# (subject, reply, header block or None, payload) of one message
RawMessage = tuple[bytes, bytes, "bytes | None", bytes]
# consecutive messages of one subscription, in order; called from the read loop: never blocks
RawSink = Callable[[list[RawMessage]], None]


# metadata tokens of a JetStream message, in the v1 ack-subject layout
# $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>
DELIVERED, STREAM_SEQ, CONSUMER_SEQ, TIMESTAMP_NS, PENDING = 4, 5, 6, 7, 8
_V1_TOKENS = 9
_ACK_PREFIX = b"$JS.ACK."


def ack_tokens(reply: bytes) -> list[bytes]:
    """The metadata tokens of a JetStream reply subject, v1 layout whatever the server sent.

    The v2 layout adds ``<domain>.<account hash>`` after ``$JS.ACK`` (and a random token at
    the end); dropping those two gives v1's indices. Raises ValueError for anything else.
    Only the bridge's own inboxes are read, so nine tokens are taken as v1 without more
    checks.
    """
    tokens = reply.split(b".")
    if len(tokens) == _V1_TOKENS:
        return tokens
    if len(tokens) >= _V1_TOKENS + 2 and reply.startswith(_ACK_PREFIX):
        return tokens[:2] + tokens[4:]
    raise ValueError(f"not a JetStream message reply: {reply[:80]!r}")


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines to a dict, exactly as nats-py's ``_parse_header_lines``."""
    out: dict[str, str] = {}
    for line in raw.split(_CRLF):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        stripped = name.strip()
        if not stripped.isascii():  # nats-py skips a name that does not decode as ASCII
            continue
        key = stripped.decode("ascii")
        if key and key.split() != [key]:  # whitespace inside the name: skipped too
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


def status_of(headers: bytes | None) -> tuple[str, str]:
    """(status code, description) from a header block's first line; ("", "") if none."""
    if not headers:
        return "", ""
    first = headers.split(_CRLF, 1)[0]
    if not first.startswith(_STATUS_LINE):
        return "", ""
    code, _, description = first[len(_STATUS_LINE) :].strip().partition(b" ")
    return code.decode("ascii", "replace"), description.strip().decode("utf-8", "replace")


class MessageParser(Parser):
    """nats-py's parser with a fast path for messages (the other operations are rare)."""

    def __init__(self, nc: Any = None) -> None:
        super().__init__(nc)
        self.sinks: dict[int, RawSink] = {}  # subscription id -> its raw consumer

    async def parse(self, data: bytes = b"") -> None:  # noqa: C901 (one loop over the buffer)
        buf = self.buf
        buf.extend(data)
        sinks = self.sinks
        view = bytes(buf)  # one copy per read: slices of it are bytes with no second copy
        pos = 0  # everything before it is handled; the buffer is trimmed once, at the end
        run: list[RawMessage] = []  # consecutive messages for run_sink, not handed over yet
        run_sid = -1
        try:
            while pos < len(view):
                end = view.find(_CRLF, pos)
                if end < 0:
                    return  # the control line is not complete yet
                args = view[pos:end].split()
                arity = _MESSAGE_ARITY.get(args[0]) if args else None
                if arity is None:
                    # Anything else, one line at a time, by nats-py itself, in stream order.
                    if run:
                        _hand_over(sinks.get(run_sid), run)
                        run = []
                    del buf[: end + 2]
                    line = self.buf = bytearray(view[pos : end + 2])
                    view = view[end + 2 :]
                    pos = 0
                    try:
                        await super().parse()
                    finally:
                        if self.buf is line:  # else nats-py reset the parser: the rest is void
                            self.buf = buf
                    if self.buf is not buf:
                        return
                    continue
                # MSG <subject> <sid> [reply] <size> / HMSG <subject> <sid> [reply] <hdr> <size>
                with_headers = args[0] == b"HMSG"
                try:
                    if len(args) not in arity:
                        raise ValueError(args)
                    sid = int(args[2])
                    headers_size = int(args[-2]) if with_headers else 0
                    size = int(args[-1])
                    if not 0 <= headers_size <= size:
                        raise ValueError(args)
                    stop = end + 2 + size
                except ValueError:
                    raise ProtocolError("nats: malformed MSG") from None
                if len(view) < stop + 2:
                    return  # the payload is not complete yet: parse the line again then
                start = end + 2
                reply = args[3] if len(args) == arity[1] else b""
                headers = view[start : start + headers_size] if with_headers else None
                payload = view[start + headers_size : stop]
                pos = stop + 2
                if sid != run_sid and run:
                    _hand_over(sinks.get(run_sid), run)
                    run = []
                if sid in sinks:
                    run_sid = sid
                    run.append((args[1], reply, headers, payload))
                else:
                    await self.nc._process_msg(sid, args[1], reply, payload, headers)
        finally:
            if run:
                _hand_over(sinks.get(run_sid), run)
            if pos and self.buf is buf:
                del buf[:pos]


def _hand_over(sink: RawSink | None, run: list[RawMessage]) -> None:
    if sink is None:  # unsubscribed meanwhile
        return
    try:
        sink(run)
    except Exception:  # as nats-py does with a callback's error: not fatal to the connection
        logger.exception("a raw subscriber failed on %d messages", len(run))


class RawSubscription:
    """A subscription whose messages go to a :data:`RawSink` (see :func:`subscribe_raw`)."""

    def __init__(self, sub: Subscription, parser: MessageParser | None) -> None:
        self._sub = sub
        self._parser = parser

    async def unsubscribe(self) -> None:
        if self._parser is not None:
            self._parser.sinks.pop(self._sub._id, None)
        await self._sub.unsubscribe()


def _raw_headers(msg: Msg) -> bytes | None:
    """A header block carrying ``msg``'s status, for a sink fed by plain nats-py."""
    headers = msg.headers or {}
    status = headers.get("Status")
    if status is None:
        return b"NATS/1.0\r\n\r\n" if headers else None
    description = headers.get("Description", "")
    return f"NATS/1.0 {status} {description}\r\n\r\n".encode()


async def subscribe_raw(nc: Client, subject: str, sink: RawSink) -> RawSubscription:
    """Subscribe ``sink`` to ``subject``: called in order, from the read loop, with runs.

    On the bridge's own client the parser calls it directly with each read's run of the
    subscription's messages; on another client (a host app's lent connection) a ``Msg``
    callback adapts each message into a run of one.
    """
    parser = nc._ps if isinstance(nc._ps, MessageParser) else None
    if parser is not None:
        sub = await nc.subscribe(subject)  # no callback: its messages never reach nats-py
        parser.sinks[sub._id] = sink
        return RawSubscription(sub, parser)

    async def adapt(msg: Msg) -> None:
        sink([(msg.subject.encode(), (msg.reply or "").encode(), _raw_headers(msg), msg.data)])

    return RawSubscription(await nc.subscribe(subject, cb=adapt), None)


def internals_match() -> bool:
    """Whether this nats-py has the internals :class:`BridgeNatsClient` replaces or calls.

    nats-py is pinned to the minor version these were read from (pyproject.toml); this guard
    keeps a bridge on another one working, on plain nats-py, instead of failing oddly.
    """
    try:
        process_msg = list(inspect.signature(Client._process_msg).parameters)
        sub_init = inspect.signature(Subscription.__init__).parameters
        read_loop = inspect.getsource(Client._read_loop)
        parser = Parser(None)
        return (
            process_msg == ["self", "sid", "subject", "reply", "data", "headers"]
            and "id" in sub_init
            and "self._ps.parse(" in read_loop
            and isinstance(parser.buf, bytearray)
            and callable(getattr(Client, "_parse_header_lines", None))
        )
    except (AttributeError, OSError, TypeError, ValueError):
        return False


class BridgeNatsClient(Client):
    _parse_header_lines = staticmethod(parse_header_lines)

    def __init__(self) -> None:
        super().__init__()
        self._ps = MessageParser(self)


async def connect(**options: Any) -> Client:
    """What ``nats.connect`` does, with :class:`BridgeNatsClient` where nats-py allows."""
    if internals_match():
        client: Client = BridgeNatsClient()
    else:
        logger.warning("nats-py internals differ from 2.16: the bridge uses plain nats-py")
        client = Client()
    await client.connect(**options)
    return client
