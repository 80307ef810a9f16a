"""Structured logs: JSON lines, context carried by contextvars, REST access logs."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.logs import ContextFilter, JsonFormatter
from mdbridge.natsserver import NatsServer
from schemas import logctx
from tests.support.market import put_directory
from tests.support.scrape import admin
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOL = "600048.SH"


@pytest.fixture
def context_capture(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog with the same context filter the production handler has."""
    context = ContextFilter()
    caplog.handler.addFilter(context)
    yield caplog
    caplog.handler.removeFilter(context)


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), [SYMBOL])
    async with running_bridge(nats_server.url) as handle:
        yield handle


def test_json_lines_carry_the_bound_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    log = logging.getLogger("tests.logs.unit")
    log.addHandler(handler)
    log.propagate = False
    try:
        with logctx.scope(connection_id="c9", trace_id="ab" * 16):
            log.warning("inside %s", "scope")
            log.warning("explicit wins", extra={"connection_id": "c10"})
        log.warning("outside")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    inside, explicit, outside = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert inside["msg"] == "inside scope"
    assert inside["level"] == "WARNING"
    assert (inside["connection_id"], inside["trace_id"]) == ("c9", "ab" * 16)
    assert inside["ts"].endswith("+08:00")
    assert explicit["connection_id"] == "c10"
    assert "connection_id" not in outside
    assert "trace_id" not in outside


async def test_session_log_lines_carry_connection_subscription_and_trace_ids(
    bridge: BridgeHandle, context_capture: pytest.LogCaptureFixture
) -> None:
    context_capture.set_level(logging.DEBUG, logger="bridge.core.feed")
    client = await WsClient.open(bridge.ws_url)
    connection_id = (await client.next())["data"]["connection_id"]
    await client.request("subscribe", {"symbol": SYMBOL, "data_type": "quote"})
    # The shared consumer's reconfiguration is logged deep inside the hub, with no extra=.
    lines = [r for r in context_capture.records if r.name == "bridge.core.feed"]
    assert lines, "the feed did not log its reconfiguration"
    record = lines[-1]
    assert getattr(record, "connection_id", None) == connection_id
    assert getattr(record, "subscription_id", None) == f"quote:{SYMBOL}:tick"
    spans = (await admin(bridge.http_url, "/traces")).json()["spans"]
    subscribe = next(
        s
        for s in spans
        if s["name"] == "ws.subscribe"
        and s["attributes"]["mdbridge.connection_id"] == connection_id
    )
    assert getattr(record, "trace_id", None) == subscribe["trace_id"]
    line = orjson.loads(JsonFormatter().format(record))
    assert line["subscription_id"] == f"quote:{SYMBOL}:tick"
    await client.close()


async def test_rest_requests_get_json_access_logs_without_secrets(
    bridge: BridgeHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.observe.accesslog")
    response = await admin(bridge.http_url, "/connections?limit=5&token=s3cret")
    assert response.status_code == 200
    missing = await admin(bridge.http_url, "/connections/nope")
    assert missing.status_code == 404
    records = [r for r in caplog.records if r.name == "bridge.observe.accesslog"]
    entries = [orjson.loads(JsonFormatter().format(r)) for r in records]
    ok = next(e for e in entries if e["http"]["path"] == "/admin/connections")
    assert ok["http"]["method"] == "GET"
    assert ok["http"]["status"] == 200
    assert ok["http"]["duration_ms"] >= 0
    assert ok["http"]["client"].startswith("127.0.0.1:")
    assert "s3cret" not in orjson.dumps(ok).decode()
    assert "limit=5" in ok["http"]["query"]
    assert any(e["http"]["status"] == 404 for e in entries)
