"""The bridge's NATS client: nats-py, with faster parsing of messages and their headers.

A replay moves ~50,000 messages a second through nats-py's pure-Python protocol parser,
which was the largest single cost of a resume (docs/benchmarks.md):

* nats-py 2.x parses each header block with a generator testing every character of every
  header name for whitespace, and every stored message carries ``Nats-Msg-Id`` and
  ``traceparent``. :func:`parse_header_lines` returns the same dict using ``str.split``.
* Its ``Parser`` tries a ``MSG`` regex, then an ``HMSG`` one, on every message and copies
  each slice twice. :class:`MessageParser` reads ``MSG``/``HMSG`` control lines by
  splitting them and hands every other line (PING, INFO, -ERR...) to nats-py's parser.

Property tests hold both to nats-py's own results. A host app that lends its own
connection (bridge/embed.py) keeps its client as it is.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

_CRLF = b"\r\n"
_MESSAGE_ARITY = {b"MSG": (4, 5), b"HMSG": (5, 6)}  # fields on the line, without and with reply


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


class MessageParser(Parser):
    """nats-py's parser with a fast path for messages (the other operations are rare)."""

    async def parse(self, data: bytes = b"") -> None:
        buf = self.buf
        buf.extend(data)
        while buf:
            end = buf.find(_CRLF)
            if end < 0:
                return  # the control line is not complete yet
            args = bytes(buf[:end]).split()
            arity = _MESSAGE_ARITY.get(args[0]) if args else None
            if arity is not None:
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
                if len(buf) < stop + 2:
                    return  # the payload is not complete yet: parse the line again then
                start = end + 2
                reply = args[3] if len(args) == arity[1] else b""
                headers = bytes(buf[start : start + headers_size]) if with_headers else None
                payload = bytes(buf[start + headers_size : stop])
                del buf[: stop + 2]
                await self.nc._process_msg(sid, args[1], reply, payload, headers)
                continue
            # Anything else, one line at a time, by nats-py itself.
            line = self.buf = buf[: end + 2]
            del buf[: end + 2]
            try:
                await super().parse()
            finally:
                if self.buf is line:  # else nats-py reset the parser: the rest is void
                    self.buf = buf
            if self.buf is not buf:
                return


class BridgeNatsClient(Client):
    _parse_header_lines = staticmethod(parse_header_lines)

    def __init__(self) -> None:
        super().__init__()
        self._ps = MessageParser(self)


async def connect(**options: Any) -> Client:
    """What ``nats.connect`` does, with :class:`BridgeNatsClient`."""
    client = BridgeNatsClient()
    await client.connect(**options)
    return client
