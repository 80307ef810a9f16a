"""The bridge inside an existing FastAPI app: mounted, its lifespan entered from the host's,
its NATS connection lent by the host, REST and WebSocket traffic through the host's uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
from fastapi import Depends, FastAPI
from nats.aio.client import Client as NatsClient

from bridge import BridgeSettings, bridge_lifespan, create_app
from bridge.embed import runtime_dependency
from bridge.runtime import Runtime
from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.market import publish, put_directory
from tests.support.servers import serving_app
from tests.support.wsclient import WsClient

SYMBOL = "601166.SH"


def host_app(md: Any, host_nc: NatsClient | None, log: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.append("host starting")
        async with bridge_lifespan(md, nc=host_nc):
            log.append("bridge running")
            yield
        log.append("bridge stopped")

    host = FastAPI(lifespan=lifespan)
    market_data = runtime_dependency(md)

    @host.get("/portfolio/{symbol}")
    async def portfolio(symbol: str, runtime: Runtime = Depends(market_data)) -> dict[str, Any]:
        """A host route reading the very cache the mounted REST and WebSocket use."""
        snap = await runtime.hub.latest(DataType.QUOTE, data_subject(DataType.QUOTE, symbol))
        return {"symbol": symbol, "seq": snap[1] if snap else None}

    host.mount("/md", md)
    return host


async def test_mounted_bridge_serves_rest_and_websocket_through_the_host(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    js = nc.jetstream()
    await put_directory(js, [SYMBOL])
    first = await publish(js, DataType.QUOTE, SYMBOL, 6.5)
    host_nc = await nats.connect(nats_server.url)
    md = create_app(BridgeSettings(nats_url="nats://127.0.0.1:1"))  # unused: the host lends nc
    log: list[str] = []
    async with serving_app(host_app(md, host_nc, log)) as address:
        runtime: Runtime = md.state.runtime
        assert runtime.nc is host_nc
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            quote = await http.get(f"/md/v1/quotes/{SYMBOL}")
            assert quote.status_code == 200
            assert quote.json()["metadata"]["seq"] == first
            mine = (await http.get(f"/portfolio/{SYMBOL}")).json()
            assert mine == {"symbol": SYMBOL, "seq": first}
            document = (await http.get("/md/openapi.json")).json()
            assert document["servers"] == [{"url": "/md"}]
            problem = (await http.get("/md/v1/quotes/601166")).json()
            assert problem["type"] == "/md/docs#problem-UNKNOWN_SYMBOL"
            assert problem["suggestions"][0] == SYMBOL
            assert (await http.get("/md/docs")).status_code == 200
            assert "/portfolio/{symbol}" in (await http.get("/openapi.json")).json()["paths"]

            ws = await WsClient.open(f"ws://{address}/md/ws")
            assert (await ws.next())["data"]["event"] == "connected"
            reply = await ws.request("subscribe", {"symbol": SYMBOL})
            assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
            assert (await ws.data())["metadata"]["seq"] == first
            live = await publish(js, DataType.QUOTE, SYMBOL, 6.51)
            pushed = await ws.data()
            assert pushed["metadata"]["seq"] == live
            rest = (await http.get(f"/md/v1/quotes/{SYMBOL}")).json()
            assert rest["metadata"]["seq"] == live
            assert rest["data"] == pushed["data"]
            await ws.close()
    assert log == ["host starting", "bridge running", "bridge stopped"]
    assert host_nc.is_connected, "the bridge must leave a lent connection open"
    await host_nc.close()


async def test_bridge_lifespan_owns_its_connection_when_none_is_lent(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    await put_directory(nc.jetstream(), [SYMBOL])
    md = create_app(BridgeSettings(nats_url=nats_server.url))
    log: list[str] = []
    async with serving_app(host_app(md, None, log)) as address:
        runtime: Runtime = md.state.runtime
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            status = await http.get("/md/v1/market/status")
            assert status.json()["nats_connected"] is True
    assert runtime.nc.is_closed
    assert log[-1] == "bridge stopped"
