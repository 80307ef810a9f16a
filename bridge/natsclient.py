"""The bridge's NATS client: nats-py, with a faster parser for message headers.

Every stored message carries ``Nats-Msg-Id`` and ``traceparent``. nats-py 2.x parses each
header block in Python with a generator testing every character of every header name for
whitespace; on the feed and in replays that was a large share of nats-py's cost per
message (docs/benchmarks.md). :func:`parse_header_lines` returns the same dict — a
property test holds it to nats-py's own function — with that test done by ``str.split``.
A host app that lends its own connection (bridge/embed.py) keeps its client as it is.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

_CRLF = b"\r\n"


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


class BridgeNatsClient(Client):
    _parse_header_lines = staticmethod(parse_header_lines)


async def connect(**options: Any) -> Client:
    """What ``nats.connect`` does, with :class:`BridgeNatsClient`."""
    client = BridgeNatsClient()
    await client.connect(**options)
    return client
