"""The admin API refuses DNS rebinding and cross-site requests (issue 14, finding 6).

With auth off on loopback, a page on ``attacker.example`` (resolving to 127.0.0.1) could
list connections, close one with 4003 "pwned" and enable tracing with a ``text/plain``
POST; connection ids were sequential.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from bridge.admin.guard import host_name
from mdbridge.natsserver import NatsServer
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

ATTACKER = "attacker.example"
CONNECTION_ID = re.compile(r"c[0-9a-f]{16}")


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    async with running_bridge(nats_server.url, admin_allowed_hosts=["bridge.internal"]) as handle:
        yield handle


async def call(
    bridge: BridgeHandle, method: str, path: str, **headers: str
) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(
            method, f"{bridge.http_url}/admin{path}", headers=headers, content=b'{"enabled":true}'
        )
    return response.status_code, response.json()


async def test_rebinding_and_cross_site_requests_are_refused(bridge: BridgeHandle) -> None:
    victim = await WsClient.open(bridge.ws_url)
    victim_id = (await victim.next())["data"]["connection_id"]
    other = await WsClient.open(bridge.ws_url)
    other_id = (await other.next())["data"]["connection_id"]
    assert CONNECTION_ID.fullmatch(victim_id)
    assert CONNECTION_ID.fullmatch(other_id)
    assert victim_id != other_id

    rebound = {"Host": f"{ATTACKER}:{bridge.settings.port}"}
    cross_site = {"Origin": f"http://{ATTACKER}"}
    for headers in (rebound, cross_site, rebound | {"Origin": f"http://{ATTACKER}"}):
        status, body = await call(bridge, "GET", "/connections", **headers)
        assert status == 403
        assert body["code"] == "FORBIDDEN"
        status, _ = await call(
            bridge,
            "DELETE",
            f"/connections/{victim_id}?code=4003&reason=pwned",
            **headers,
            **{"X-Requested-With": "x"},
        )
        assert status == 403
    # A "simple" cross-site POST (no preflight): text/plain, no custom header.
    status, body = await call(
        bridge, "POST", f"/connections/{victim_id}/trace", **{"Content-Type": "text/plain"}
    )
    assert status == 403
    assert "X-Requested-With" in str(body["detail"])
    status, _ = await call(bridge, "DELETE", f"/connections/{victim_id}?code=4003")
    assert status == 403
    status, detail = await call(bridge, "GET", f"/connections/{victim_id}")
    assert status == 200
    assert detail["traced"] is False
    assert (await victim.request("ping", {"alive": 1}))["data"] == {"alive": 1}

    # The same requests as the dashboard or `mdbridge trace` send them are served.
    for host in (
        f"localhost:{bridge.settings.port}",
        "bridge.internal",
        f"[::1]:{bridge.settings.port}",
    ):
        status, _ = await call(bridge, "GET", "/connections", Host=host)
        assert status == 200, host
    own_origin = {"Origin": bridge.http_url}
    status, _ = await call(bridge, "GET", "/connections", **own_origin)
    assert status == 200
    status, traced = await call(
        bridge,
        "POST",
        f"/connections/{victim_id}/trace",
        **{"Content-Type": "application/json"},
    )
    assert status == 200
    assert traced["traced"] is True
    status, _ = await call(
        bridge, "DELETE", f"/connections/{other_id}?code=1000", **{"X-Requested-With": "mdbridge"}
    )
    assert status == 200
    await victim.close()


def test_host_name_strips_ports_and_brackets() -> None:
    assert host_name("Example.COM:8000") == "example.com"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("") == ""
