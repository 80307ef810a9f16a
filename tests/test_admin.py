"""The admin API against a real nats-server, a real uvicorn bridge and real WebSocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from starlette.applications import Starlette
from starlette.requests import Request
from websockets.exceptions import ConnectionClosed

from bridge.access.policy import Access
from bridge.admin.routes import authorize
from bridge.settings import BridgeSettings
from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.scrape import admin, scrape, value
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import WsClient

SYMBOLS = ["601398.SH", "601988.SH", "002594.SZ"]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url, uvicorn_options={"ws_ping_interval": 0.2, "ws_ping_timeout": 5.0}
    ) as handle:
        yield handle


async def _connected(url: str, **kwargs: object) -> tuple[WsClient, str]:
    client = await WsClient.open(url, **kwargs)
    first = await client.next()
    return client, first["data"]["connection_id"]


async def test_status_connections_and_diagnostics(nc: NatsClient, bridge: BridgeHandle) -> None:
    alice, alice_id = await _connected(
        bridge.ws_url, user_agent_header="alice-terminal/2.1", additional_headers={}
    )
    bob, _ = await _connected(bridge.ws_url)
    await alice.request("subscribe", {"symbols": SYMBOLS[:2], "data_type": "quote"})
    await bob.request("subscribe", {"symbol": SYMBOLS[0], "data_type": "quote"})
    await bob.request("subscribe", {"symbol": SYMBOLS[0], "data_type": "quote", "frequency": "1s"})
    assert (await alice.request("nonsense"))["type"] == "error"
    await publish(nc.jetstream(), DataType.QUOTE, SYMBOLS[0], 10.5)
    await alice.data()

    status = (await admin(bridge.http_url, "/status")).json()
    assert status["ready"] is True
    assert status["nats"]["connected"] is True
    assert status["connections"] == {"active": 2, "opened": 2}
    assert status["subscriptions"] == 4
    assert status["streams"]["MD_QUOTE"]["epoch"]
    assert status["process"]["rss_bytes"] > 0

    listing = (await admin(bridge.http_url, "/connections")).json()
    assert listing["total"] == 2
    row = next(c for c in listing["connections"] if c["connection_id"] == alice_id)
    assert row["remote_address"].startswith("127.0.0.1:")
    assert row["user_agent"] == "alice-terminal/2.1"
    assert (row["subject"], row["tier"]) == ("anonymous", 0)  # auth is off here
    assert row["subscriptions"] == 2
    assert row["errors"] == 1
    assert row["bytes_out"] > 0
    assert row["queue_messages"] == 0
    assert "queue_bytes" in row

    detail: dict[str, object] = {}
    for _ in range(100):  # uvicorn's keepalive ping every 0.2 s gives the round-trip time
        detail = (await admin(bridge.http_url, f"/connections/{alice_id}")).json()
        if detail["last_ping_rtt_ms"] is not None:
            break
        await asyncio.sleep(0.05)
    rtt = detail["last_ping_rtt_ms"]
    assert isinstance(rtt, float)
    assert 0 < rtt < 1000
    subs = detail["subscription_list"]
    assert isinstance(subs, list)
    assert sorted(s["symbol"] for s in subs) == sorted(SYMBOLS[:2])

    missing = await admin(bridge.http_url, "/connections/c999999")
    assert missing.status_code == 404
    assert_problem(missing, 404, "UNKNOWN_CONNECTION")
    bad = await admin(bridge.http_url, "/connections?limit=0")
    assert bad.status_code == 400
    assert_problem(bad, 400, "BAD_REQUEST")
    assert_problem(await admin(bridge.http_url, "/nope"), 404, "NOT_FOUND")
    wrong_method = await admin(bridge.http_url, "/status", method="POST")
    assert_problem(wrong_method, 405, "BAD_REQUEST")
    assert wrong_method.headers["allow"] == "GET, HEAD"

    subscriptions = (await admin(bridge.http_url, "/subscriptions")).json()
    assert subscriptions["total_subscriptions"] == 4
    top = subscriptions["subscriptions"][0]
    assert (top["symbol"], top["data_type"], top["subscribers"]) == (SYMBOLS[0], "quote", 3)
    assert sorted(c["frequency"] for c in top["channels"]) == ["1s", "tick"]
    only = (await admin(bridge.http_url, f"/subscriptions?symbol={SYMBOLS[1]}")).json()
    assert [(r["symbol"], r["subscribers"]) for r in only["subscriptions"]] == [(SYMBOLS[1], 1)]
    await alice.close()
    await bob.close()


async def _drain(client: WsClient) -> None:
    while True:
        await client.next()


async def test_disconnect_closes_one_connection_with_the_code_and_reason_given(
    bridge: BridgeHandle,
) -> None:
    victim, victim_id = await _connected(bridge.ws_url)
    bystander, _ = await _connected(bridge.ws_url)
    bad = await admin(bridge.http_url, f"/connections/{victim_id}?code=4242", method="DELETE")
    assert bad.status_code == 400
    response = await admin(
        bridge.http_url,
        f"/connections/{victim_id}?code=4003&reason=misbehaving",
        method="DELETE",
    )
    assert response.json() == {"closed": victim_id, "code": 4003, "reason": "misbehaving"}
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(victim)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, "misbehaving")
    assert (await bystander.request("ping", {"n": 1}))["type"] == "pong"
    for _ in range(100):
        listing = (await admin(bridge.http_url, "/connections")).json()
        if listing["total"] == 1:
            break
        await asyncio.sleep(0.05)
    assert listing["total"] == 1
    samples = await scrape(bridge.http_url)
    assert value(samples, "mdbridge_ws_connections_closed_total", code="4003") == 1
    again = await admin(bridge.http_url, f"/connections/{victim_id}", method="DELETE")
    assert again.status_code == 404
    await bystander.close()


async def test_quality_report_is_what_the_monitor_published_on_md_status(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    report = {
        "kind": "quality_report",
        "source": "sim",
        "symbols_checked": 300,
        "issues": {"stale": 1, "crossed_book": 0},
    }
    finding = {"kind": "quality", "symbol": SYMBOLS[2], "check": "crossed_book", "message": "x"}
    await js.publish("md.status.quality", orjson.dumps(report))
    await js.publish("md.status.sim", orjson.dumps(finding))
    quality: dict[str, object] = {}
    for _ in range(100):
        quality = (await admin(bridge.http_url, "/quality")).json()
        if quality["reports"] and quality["findings"]:
            break
        await asyncio.sleep(0.05)
    reports = quality["reports"]
    assert isinstance(reports, list)
    assert reports[-1]["report"]["issues"] == {"stale": 1, "crossed_book": 0}
    findings = quality["findings"]
    assert isinstance(findings, list)
    assert findings[-1]["symbol"] == SYMBOLS[2]
    assert "md.status" in str(quality["source"])


async def test_control_path_spans_continue_the_clients_traceparent(bridge: BridgeHandle) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01"
    client, connection_id = await _connected(
        bridge.ws_url, additional_headers={"traceparent": traceparent}
    )
    await client.request("subscribe", {"symbol": SYMBOLS[1], "data_type": "quote"})
    await client.request("ping")  # not traced: too frequent and trivial
    spans = (await admin(bridge.http_url, "/traces")).json()["spans"]
    mine = [s for s in spans if s["attributes"].get("mdbridge.connection_id") == connection_id]
    assert [s["name"] for s in mine] == ["ws.connect", "ws.subscribe"]
    connect, subscribe = mine
    assert connect["trace_id"] == subscribe["trace_id"] == TRACE_ID
    assert connect["parent_span_id"] == PARENT_SPAN
    assert subscribe["parent_span_id"] == connect["span_id"]
    assert subscribe["attributes"]["mdbridge.data_type"] == "quote"
    await client.close()


def _request_from(host: str) -> Request:
    app = Starlette()
    app.state.access = Access(BridgeSettings(allow_insecure_bind=True, host="0.0.0.0"))
    scope = {"type": "http", "method": "GET", "path": "/admin/status", "headers": [], "app": app}
    return Request(scope | {"client": (host, 50000)})


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    """Every admin error has the REST API's one shape: RFC 9457 problem details."""
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(f"#problem-{code}")
    assert isinstance(body["detail"], str)
    assert "error" not in body


async def test_with_auth_off_the_admin_api_answers_loopback_only() -> None:
    assert await authorize(_request_from("127.0.0.1")) is None
    assert await authorize(_request_from("::1")) is None
    refused = await authorize(_request_from("10.1.2.3"))  # an insecurely exposed bridge
    assert refused is not None
    assert refused.status_code == 403
    body = orjson.loads(bytes(refused.body))
    assert refused.headers["content-type"] == "application/problem+json"
    assert body["code"] == "FORBIDDEN"
    assert body["status"] == 403


async def test_with_auth_on_the_admin_api_needs_the_admin_scope(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as bridge:
        anonymous = await admin(bridge.http_url, "/status")
        assert anonymous.status_code == 401
        reader = token("reader", scopes=("md:read",))
        denied = await admin(bridge.http_url, "/status", headers=_bearer(reader))
        assert denied.status_code == 403
        assert_problem(denied, 403, "FORBIDDEN")
        assert_problem(anonymous, 401, "UNAUTHORIZED")
        operator = token("operator", scopes=("md:read", "admin"))
        allowed = await admin(bridge.http_url, "/connections", headers=_bearer(operator))
        assert allowed.status_code == 200
        client = await WsClient.open(bridge.ws_url, additional_headers=_bearer(operator))
        connection_id = (await client.next())["data"]["connection_id"]
        detail = await admin(
            bridge.http_url, f"/connections/{connection_id}", headers=_bearer(operator)
        )
        assert (detail.json()["subject"], detail.json()["tier"]) == ("operator", 0)
        await client.close()


def _bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}
