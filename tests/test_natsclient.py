"""The bridge's header parser returns exactly what nats-py's own returns."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

from bridge.core.natsclient import BridgeNatsClient, MessageParser, RawMessage, parse_header_lines
from mdbridge.natsserver import NatsServer
from tests.support.servers import running_bridge

NAME = st.text(alphabet=st.characters(codec="latin-1"), max_size=12)
VALUE = st.text(max_size=20)


@given(st.lists(st.tuples(NAME, st.sampled_from([":", ": ", " :", ":\t", ""]), VALUE), max_size=6))
def test_same_headers_as_nats_py(lines: list[tuple[str, str, str]]) -> None:
    raw = b"".join(
        name.encode("latin-1") + sep.encode() + value.encode("utf-8") + b"\r\n"
        for name, sep, value in lines
    )
    raw += b"\r\n"
    assert parse_header_lines(raw) == Client._parse_header_lines(raw)


def test_adapter_headers() -> None:
    raw = (
        b"Nats-Msg-Id: 600000.SH-1763600000123\r\n"
        b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"
    )
    expected = {
        "Nats-Msg-Id": "600000.SH-1763600000123",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    assert parse_header_lines(raw) == expected
    assert BridgeNatsClient._parse_header_lines(raw) == expected


async def test_the_bridge_connects_with_it(nc: Client, nats_server: NatsServer) -> None:
    async with running_bridge(nats_server.url) as bridge:
        assert isinstance(bridge.runtime.nc, BridgeNatsClient)


class Recorder:
    """What a parser hands the client, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        self.calls.append(("msg", sid, bytes(subject), bytes(reply), data, headers))

    async def _process_ping(self) -> None:
        self.calls.append(("ping",))

    async def _process_pong(self) -> None:
        self.calls.append(("pong",))

    async def _process_info(self, info: dict[str, object]) -> None:
        self.calls.append(("info", info))

    async def _process_err(self, message: str) -> None:
        self.calls.append(("err", message))


SIDS = [1, 2, 3, 17, 9999]  # few, so that runs of one subscription's messages occur
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.$_-", min_size=1, max_size=24)
PAYLOAD = st.binary(max_size=300)
HEADERS = st.sampled_from(
    [
        b"NATS/1.0\r\n\r\n",
        b"NATS/1.0 100 Idle Heartbeat\r\n\r\n",
        b"NATS/1.0 404 No Messages\r\n\r\n",
        b"NATS/1.0\r\nNats-Msg-Id: 600000.SH-1\r\ntraceparent: 00-4bf9-01\r\n\r\n",
    ]
)


@st.composite
def operation(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["msg", "hmsg", "ping", "pong", "ok", "info", "err"]))
    if kind in ("msg", "hmsg"):
        subject, sid, payload = draw(TOKEN), draw(st.sampled_from(SIDS)), draw(PAYLOAD)
        reply = draw(st.none() | TOKEN)
        space = draw(st.sampled_from([b" ", b"  ", b"\t"]))
        head = [b"MSG" if kind == "msg" else b"HMSG", subject.encode(), b"%d" % sid]
        if reply is not None:
            head.append(reply.encode())
        if kind == "hmsg":
            headers = draw(HEADERS)
            head += [b"%d" % len(headers), b"%d" % (len(headers) + len(payload))]
            payload = headers + payload
        else:
            head.append(b"%d" % len(payload))
        return space.join(head) + b"\r\n" + payload + b"\r\n"
    return {
        "ping": b"PING\r\n",
        "pong": b"PONG\r\n",
        "ok": b"+OK\r\n",
        "info": b'INFO {"server_id":"x","max_payload":1048576}\r\n',
        "err": b"-ERR 'Permissions Violation for Subscription to md.x'\r\n",
    }[kind]


async def _parse(
    parser_class: type[Parser], chunks: list[bytes], raw_sids: frozenset[int] = frozenset()
) -> list[tuple[object, ...]]:
    recorder = Recorder()
    parser = parser_class(recorder)
    for sid in raw_sids:  # these subscriptions' messages go to a raw sink, in runs
        assert isinstance(parser, MessageParser)
        parser.sinks[sid] = partial(_record_run, recorder.calls, sid)
    for chunk in chunks:
        await parser.parse(chunk)
    assert not parser.buf  # everything was complete, so everything was consumed
    return recorder.calls


def _record_run(calls: list[tuple[object, ...]], sid: int, run: list[RawMessage]) -> None:
    calls.extend(
        ("msg", sid, subject, reply, data, headers) for subject, reply, headers, data in run
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(operation(), min_size=1, max_size=12), st.data())
def test_the_message_parser_hands_over_what_nats_py_does(
    operations: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(operations)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    expected = asyncio.run(_parse(Parser, [stream]))
    assert asyncio.run(_parse(MessageParser, chunks)) == expected
    # raw sinks for some subscriptions: the same messages, in the same order among the rest
    raw_sids = frozenset(data.draw(st.sets(st.integers(1, 9999) | st.sampled_from(SIDS))))
    assert asyncio.run(_parse(MessageParser, chunks, raw_sids)) == expected
    assert len(expected) == sum(not op.startswith(b"+OK") for op in operations)


@pytest.mark.parametrize(
    "line",
    [b"MSG a.b 1\r\n", b"HMSG a.b x 5 9\r\n", b"MSG a.b 1 r 2 3 4\r\n", b"HMSG a.b 1 9 5\r\n"],
)
async def test_a_malformed_message_line_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        await MessageParser(Recorder()).parse(line + b"hello\r\n")
