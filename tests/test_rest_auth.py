"""With auth on, REST takes the same tokens as /ws and refuses with problem+json; a FastAPI host
shares that access control through a dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from nats.aio.client import Client as NatsClient

from bridge import BridgeSettings, create_app
from bridge.access.principal import Principal
from bridge.embed import principal_dependency
from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge, serving_app
from tests.support.tokens import SECRET, token

SH, SZ = "601899.SH", "000725.SZ"


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), [SH, SZ])
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as handle:
        yield handle


def _auth(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


async def test_rest_needs_a_token_and_honours_its_scopes_and_symbols(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    for symbol in (SH, SZ):
        await publish(js, DataType.QUOTE, symbol, 4.2)
        await publish(js, DataType.DEPTH, symbol, 4.2)
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        missing = await http.get(f"/v1/quotes/{SH}")
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["code"] == "UNAUTHORIZED"
        forged = await http.get(f"/v1/quotes/{SH}", headers=_auth("not.a.jwt"))
        assert forged.status_code == 401

        reader = _auth(token("reader"))
        assert (await http.get(f"/v1/quotes/{SH}", headers=reader)).status_code == 200
        assert (await http.get(f"/v1/quotes/{SH}", params={"token": token("q")})).status_code == 200
        no_l2 = await http.get(f"/v1/depth/{SH}", headers=reader)
        assert no_l2.status_code == 403
        assert no_l2.json()["code"] == "FORBIDDEN"
        l2 = _auth(token("l2", scopes=["md:read", "md:l2"]))
        assert (await http.get(f"/v1/depth/{SH}", headers=l2)).status_code == 200

        sh_only = _auth(token("sh", symbols=["*.SH"]))
        assert (await http.get(f"/v1/quotes/{SZ}", headers=sh_only)).status_code == 403
        both = (
            await http.get("/v1/quotes", params={"symbols": f"{SH},{SZ}"}, headers=sh_only)
        ).json()
        assert [item["data"]["symbol"] for item in both["items"]] == [SH]
        assert [(e["symbol"], e["code"]) for e in both["errors"]] == [(SZ, "FORBIDDEN")]

        admin_only = _auth(token("ops", scopes=["admin"]))
        assert (await http.get("/v1/market/status", headers=admin_only)).status_code == 403
        assert (await http.get("/v1/symbols", headers=reader)).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200  # documents stay open


async def test_a_fastapi_host_shares_the_bridge_access_control(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    md = create_app(BridgeSettings(nats_url=nats_server.url, auth_enabled=True, auth_secret=SECRET))
    caller = principal_dependency(md)
    host = FastAPI()

    @host.get("/me")
    async def me(principal: Principal = Depends(caller)) -> dict[str, Any]:
        return {"subject": principal.subject}

    host.mount("/md", md)
    async with serving_app(host) as where, httpx.AsyncClient(base_url=f"http://{where}") as http:
        refused = await http.get("/me")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/me", headers=_auth(token("alice")))).json() == {"subject": "alice"}
