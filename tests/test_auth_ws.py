"""Auth and permissions on a real bridge: every token source, every refusal and its code."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.exceptions import InvalidStatus

from bridge.access.http import require_scope
from bridge.access.principal import Scope
from bridge.access.redact import redact
from bridge.access.tokens import hmac_signing_key
from mdbridge.natsserver import NatsServer
from schemas import DataType
from services.provision import ensure_streams
from tests.support.access import bearer, ending, open_refused
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ"]
DASHBOARD = "https://dash.example"
FULL = ["md:read", "md:l2", "md:whole_market"]


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    client = await nats.connect(nats_server.url)
    await ensure_streams(client.jetstream())
    await put_directory(client.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url,
        auth_enabled=True,
        auth_secret=SECRET,
        auth_timeout_s=1.0,
        auth_leeway_s=0,
        allowed_origins=[DASHBOARD],
    ) as handle:
        yield handle
    await client.drain()


async def authenticated(client: WsClient) -> dict[str, object]:
    connected = await client.next()
    assert connected["data"]["event"] == "connected"
    assert connected["data"]["auth_required"] is True
    status = await client.next()
    assert status["data"]["event"] == "authenticated"
    return dict(status["data"])


# -- the four token sources -----------------------------------------------------------------


async def test_token_in_the_authorization_header(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url, **bearer(token("hdr", scopes=FULL, tier=1)))
    status = await authenticated(client)
    assert status["subject"] == "hdr"
    assert status["tier"] == 1
    assert status["scopes"] == sorted(FULL)
    reply = await client.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    await client.close()


async def test_token_in_the_bearer_subprotocol_is_echoed(bridge: BridgeHandle) -> None:
    offered = "bearer." + token("browser")
    client = await WsClient.open(bridge.ws_url, subprotocols=[offered])
    assert client.conn.subprotocol == offered  # browsers drop a handshake without the echo
    assert (await authenticated(client))["subject"] == "browser"
    await client.close()


async def test_token_in_the_query(bridge: BridgeHandle) -> None:
    client = await WsClient.open(f"{bridge.ws_url}?token={token('query')}")
    assert (await authenticated(client))["subject"] == "query"
    await client.close()


async def test_tokens_never_reach_the_logs(
    bridge: BridgeHandle, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = token("logged"), token(now=time.time() - 3600, ttl_s=5)
    with caplog.at_level(logging.INFO):
        client = await WsClient.open(f"{bridge.ws_url}?token={good}")
        await authenticated(client)
        await client.close()
        await open_refused(f"{bridge.ws_url}?token={bad}")
        await open_refused(bridge.ws_url, **bearer(bad))
        async with httpx.AsyncClient(base_url=bridge.http_url) as http:
            await http.get("/v1/auth/whoami", params={"token": bad})
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(record.getMessage() for record in server_side)
    assert "token=<redacted>" in logged  # uvicorn logged the handshake path, redacted
    for secret in (good, bad, good.split(".")[2], SECRET):
        assert secret not in logged


def test_redact_rewrites_every_token_shape() -> None:
    jwt_text = token("x")
    line = f"GET /ws?a=1&token={jwt_text}&b=2 Authorization: Bearer {jwt_text} raw {jwt_text}"
    cleaned = redact(line)
    assert jwt_text not in cleaned
    assert "a=1&token=<redacted>&b=2" in cleaned
    assert "Bearer <redacted>" in cleaned


async def test_auth_frame_and_nothing_served_before_it(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    connected = await client.next()
    assert connected["data"]["auth_required"] is True
    early = await client.request("subscribe", {"symbol": "600000.SH"})
    assert early["type"] == "error"
    assert early["data"]["code"] == "UNAUTHORIZED"
    assert (await client.request("ping", {"n": 1}))["type"] == "pong"
    status = await client.request("auth", {"token": token("framed", max_subscriptions=3)})
    assert status["data"]["event"] == "authenticated"
    assert status["data"]["subject"] == "framed"
    assert status["data"]["limits"]["max_subscriptions"] == 3
    reply = await client.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    await client.close()


# -- refusals: 4001 with a reason that helps and leaks nothing -------------------------------


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_no_auth_frame_within_the_timeout_closes_4001(bridge: BridgeHandle) -> None:
    started = time.monotonic()
    end = await open_refused(bridge.ws_url)
    assert end.code == 4001
    assert end.reason == "auth timeout"
    assert end.error["data"]["code"] == "UNAUTHORIZED"
    assert 0.9 < time.monotonic() - started < 8


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (token(now=time.time() - 3600, ttl_s=60), "token expired"),
        (token(key=hmac_signing_key(b"not-the-secret-0123456789abcdef-01")), "bad token signature"),
        (token(extra={"nbf": int(time.time()) + 3600}), "token not yet valid"),
        ("garbage", "malformed token"),
        ("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIn0.", "unsigned token refused"),
    ],
)
async def test_bad_handshake_tokens_close_4001(bridge: BridgeHandle, bad: str, reason: str) -> None:
    for kwargs in (bearer(bad), {"subprotocols": ["bearer." + bad]}):
        end = await open_refused(bridge.ws_url, **kwargs)
        assert end.code == 4001
        assert end.reason == reason
        error = end.error
        assert error["data"]["code"] == "UNAUTHORIZED"
        assert bad not in error["data"]["message"]
        assert SECRET not in error["data"]["message"]
        assert not [f for f in end.frames if f["type"] == "status"]  # never admitted


async def test_malformed_authorization_header_closes_4001(bridge: BridgeHandle) -> None:
    end = await open_refused(bridge.ws_url, additional_headers={"Authorization": "Basic YTpi"})
    assert end.code == 4001
    assert end.reason == "malformed Authorization header"


async def test_bad_auth_frame_closes_4001_and_answers_its_id(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    request_id = await client.send("auth", {"token": token(now=time.time() - 3600, ttl_s=5)})
    end = await ending(client)
    assert end.code == 4001
    assert end.reason == "token expired"
    assert end.error["id"] == request_id


async def test_token_without_md_read_closes_4003(bridge: BridgeHandle) -> None:
    end = await open_refused(bridge.ws_url, **bearer(token("ops", scopes=["admin"])))
    assert end.code == 4003
    assert end.error["data"]["code"] == "FORBIDDEN"
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    await client.send("auth", {"token": token("ops", scopes=["admin"])})
    assert (await ending(client)).code == 4003


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_token_expiry_closes_unless_refreshed(bridge: BridgeHandle) -> None:
    lapsing = await WsClient.open(bridge.ws_url, **bearer(token("short", ttl_s=2)))
    refreshed = await WsClient.open(bridge.ws_url, **bearer(token("short", ttl_s=2)))
    await authenticated(lapsing)
    await authenticated(refreshed)
    status = await refreshed.request("auth", {"token": token("short", ttl_s=60)})
    assert status["data"]["event"] == "authenticated"
    end = await ending(lapsing)
    assert end.code == 4001
    assert end.reason == "token expired"
    await asyncio.sleep(0.5)
    assert (await refreshed.request("ping", {}))["type"] == "pong"
    await refreshed.close()


async def test_auth_frame_cannot_change_the_subject(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url, **bearer(token("first")))
    await authenticated(client)
    await client.send("auth", {"token": token("second")})
    end = await ending(client)
    assert end.code == 4001
    assert end.reason == "token subject changed"


# -- permissions: FORBIDDEN per symbol, nothing else changes ----------------------------------


async def test_subscriptions_outside_the_token_are_forbidden_one_by_one(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    client = await WsClient.open(bridge.ws_url, **bearer(token("sh-only", symbols=["*.SH"])))
    await authenticated(client)
    reply = await client.request(
        "subscribe", {"symbols": ["600519.SH", "000001.SZ", "*.SH"], "snapshot": False}
    )
    results = {r["symbol"]: r for r in reply["data"]["subscriptions"]}
    assert results["600519.SH"]["status"] == "subscribed"
    assert results["000001.SZ"]["code"] == "FORBIDDEN"
    assert results["*.SH"]["code"] == "FORBIDDEN"
    assert "md:whole_market" in results["*.SH"]["message"]
    depth = await client.request("subscribe", {"symbol": "600519.SH", "data_type": "depth"})
    assert depth["data"]["subscriptions"][0]["code"] == "FORBIDDEN"
    assert "md:l2" in depth["data"]["subscriptions"][0]["message"]
    seq = await publish(nc.jetstream(), DataType.QUOTE, "600519.SH", 1500.0)
    message = await client.data()
    assert message["metadata"]["seq"] == seq  # the allowed subscription is untouched
    listing = await client.request("list_subscriptions")
    assert [r["symbol"] for r in listing["data"]["subscriptions"]] == ["600519.SH"]
    await client.close()


async def test_token_max_subscriptions_is_the_smaller_limit(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url, **bearer(token("small", max_subscriptions=2)))
    connected = await client.next()
    limits = connected["data"]["limits"]
    assert limits["max_subscriptions"] == 2
    for name in (
        "max_connections",
        "max_connections_per_ip",
        "max_connections_per_subject",
        "connect_rate_per_ip",
        "connect_burst_per_ip",
        "frames_per_s",
        "frame_burst",
        "frame_rate_strikes",
        "max_frame_bytes",
        "tiers",
        "tier_reserve",
        "tier",
        "auth_timeout_s",
    ):
        assert name in limits, name
    reply = await client.request("subscribe", {"symbols": SYMBOLS[:3], "snapshot": False})
    statuses = [r["status"] for r in reply["data"]["subscriptions"]]
    assert statuses == ["subscribed", "subscribed", "error"]
    assert reply["data"]["limit"] == {"name": "max_subscriptions", "value": 2}
    await client.close()


# -- REST: the same tokens ----------------------------------------------------------------------


async def test_rest_takes_the_same_tokens(bridge: BridgeHandle) -> None:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        missing = await http.get("/v1/auth/whoami")
        assert missing.status_code == 401
        assert missing.json()["code"] == "UNAUTHORIZED"
        assert missing.headers["www-authenticate"].startswith("Bearer ")
        expired = await http.get(
            "/v1/auth/whoami", headers={"Authorization": f"Bearer {token(ttl_s=1, now=1000)}"}
        )
        assert expired.status_code == 401
        assert 'error_description="token expired"' in expired.headers["www-authenticate"]
        good = await http.get(
            "/v1/auth/whoami", headers={"Authorization": f"Bearer {token('rest', tier=2)}"}
        )
        assert good.status_code == 200
        assert good.json()["subject"] == "rest"
        assert good.json()["limits"]["tier"] == 2
        by_query = await http.get("/v1/auth/whoami", params={"token": token("q")})
        assert by_query.json()["subject"] == "q"
        assert (await http.get("/healthz")).status_code == 200  # health stays open


async def test_require_scope_guards_admin_routes(bridge: BridgeHandle) -> None:
    @require_scope(Scope.ADMIN)
    async def secret_admin(request: Request) -> Response:
        return JSONResponse({"who": request.state.principal.subject})

    bridge.app.router.routes.append(Route("/test/admin-only", secret_admin))
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        reader = {"Authorization": f"Bearer {token('reader')}"}
        admin = {"Authorization": f"Bearer {token('root', scopes=['admin'])}"}
        assert (await http.get("/test/admin-only")).status_code == 401
        refused = await http.get("/test/admin-only", headers=reader)
        assert refused.status_code == 403
        assert refused.json() == {"code": "FORBIDDEN", "message": "token lacks the admin scope"}
        allowed = await http.get("/test/admin-only", headers=admin)
        assert allowed.status_code == 200
        assert allowed.json() == {"who": "root"}


# -- browsers: Origin allow-list and CORS ----------------------------------------------------


async def test_origins_on_ws(bridge: BridgeHandle) -> None:
    good = token("web")
    listed = await WsClient.open(bridge.ws_url, origin=DASHBOARD, **bearer(good))
    assert (await authenticated(listed))["subject"] == "web"
    await listed.close()
    same = f"http://127.0.0.1:{bridge.settings.port}"
    own = await WsClient.open(bridge.ws_url, origin=same, **bearer(good))
    await authenticated(own)
    await own.close()
    with pytest.raises(InvalidStatus) as caught:
        await WsClient.open(bridge.ws_url, origin="https://evil.example", **bearer(good))
    assert caught.value.response.status_code == 403


async def test_cors_preflight_follows_the_allow_list(bridge: BridgeHandle) -> None:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        ask = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        ok = await http.options("/v1/auth/whoami", headers={"Origin": DASHBOARD, **ask})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == DASHBOARD
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        bad = await http.options(
            "/v1/auth/whoami", headers={"Origin": "https://evil.example", **ask}
        )
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
