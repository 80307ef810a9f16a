"""The bridge's header parser returns exactly what nats-py's own returns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client

from bridge.natsclient import BridgeNatsClient, parse_header_lines
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
