"""Tokens never reach the logs however the query is encoded; hostile frames log one line.

Issue 14, finding 7: ``?%74oken=eyJ...`` was accepted and the whole JWT logged at INFO, and
each invalid-UTF-8 frame logged an ERROR with a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from bridge.access.redact import redact
from mdbridge.natsserver import NatsServer
from tests.support.rawws import OP_TEXT, RawWebSocket, frame
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import WsClient


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as handle:
        yield handle


def percent_encoded(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record's message and every string it carries (JSON logs write extras too)."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts += [v for v in vars(record).values() if type(v) is str]
    return "\n".join(parts)


async def test_tokens_are_redacted_however_the_query_is_encoded(
    bridge: BridgeHandle, caplog: pytest.LogCaptureFixture
) -> None:
    jwt_text = token("encoded")
    encoded = percent_encoded(jwt_text)
    queries = [
        f"%74oken={jwt_text}",
        f"%74oken={encoded}",
        f"TOKEN={encoded}",
        f"ToKeN={jwt_text}",
        f"+token={encoded}",
        f"a=1&tok%65n={encoded}&b=2",
    ]
    with caplog.at_level(logging.DEBUG):
        for query in queries[:2]:  # decoded to `token`: these are accepted, as the URL says
            client = await WsClient.open(f"{bridge.ws_url}?{query}")
            connected = await client.next()
            assert connected["data"]["event"] == "connected"
            status = await client.next()
            assert status["data"]["event"] == "authenticated"
            await client.close()
        for query in queries[2:]:
            client = await WsClient.open(f"{bridge.ws_url}?{query}")
            await client.next()
            await client.close()
        async with httpx.AsyncClient(base_url=bridge.http_url) as http:
            for query in queries:
                await http.get(f"/v1/auth/whoami?{query}")
    server_side = [
        r
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore", "websockets.client"))
    ]
    logged = everything_logged(server_side)
    assert "WebSocket /ws?" in logged  # uvicorn did log the handshake paths
    signature = jwt_text.split(".")[2]
    for secret in (jwt_text, encoded, signature, percent_encoded(signature)):
        assert secret not in logged


def test_redact_decodes_parameter_names_and_values() -> None:
    jwt_text = token("x")
    encoded = percent_encoded(jwt_text)
    assert redact(f"/ws?%74oken={encoded}") == "/ws?%74oken=<redacted>"
    assert redact(f"/ws?a=1&ACCESS_TOKEN=x&b={encoded}") == (
        "/ws?a=1&ACCESS_TOKEN=<redacted>&b=<redacted>"
    )
    assert redact("retry_after_ms=5000 symbol=600000.SH") == "retry_after_ms=5000 symbol=600000.SH"


async def test_invalid_utf8_is_one_warning_per_connection_without_a_traceback(
    bridge: BridgeHandle, caplog: pytest.LogCaptureFixture
) -> None:
    bad = frame(OP_TEXT, b'{"type":"\xff\xfe"}')
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            status, raw = await RawWebSocket.handshake(bridge.settings.port)
            assert status == 101
            raw.send(bad + bad + bad)  # three bad frames at once: the first one closes
            assert await raw.close_code() == 1007
            await raw.close()
    uvicorn_records = [r for r in caplog.records if r.name.startswith("uvicorn")]
    assert not [r for r in uvicorn_records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
    warnings = [r for r in uvicorn_records if "invalid UTF-8" in r.getMessage()]
    assert len(warnings) == 3
    assert {r.levelno for r in warnings} == {logging.WARNING}


def test_redact_stays_linear_on_long_lines() -> None:
    """A hostile URL is as long as the client likes; redaction must not backtrack on it."""
    lines = ["a" * 200_000 + "%41", "x=" + "b" * 200_000, "?" + "c" * 200_000 + "=1%2"]
    started = time.perf_counter()
    for line in lines:
        assert redact(line) == line
    assert time.perf_counter() - started < 2.0  # a generous bound: linear takes ~50 ms
