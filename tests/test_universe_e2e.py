"""Indices and ETFs end to end: the simulator publishes them (an index as a level without a
book, limits or trades; an ETF on a 0.001 grid), the directory names them with kind, board
and pinyin, and NATS, REST and the WebSocket all serve them. A bare ``000001`` is ambiguous
(平安银行 000001.SZ, 上证指数 000001.SH): both are offered, named."""

from __future__ import annotations

from typing import Any

import httpx
import nats
import orjson

from mdbridge.natsserver import NatsServer
from schemas import SYMBOLS_BUCKET
from services.provision import ensure_streams
from services.settings import AdapterSettings
from tests.support.adapters import eventually, last_payload, running_adapter
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

INDEX, ETF = "000300.SH", "510300.SH"


async def test_an_index_and_an_etf_over_nats_rest_and_websocket(
    fresh_nats_server: NatsServer,
) -> None:
    url = fresh_nats_server.url
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js)
    settings = AdapterSettings(nats_url=url, source_id="sim", sim_symbols=60, sim_speed=20)
    try:
        async with running_adapter("sim", settings):
            # -- NATS: the directory and the quotes ------------------------------------------
            kv = await js.key_value(SYMBOLS_BUCKET)
            index_info = orjson.loads((await eventually(lambda: _entry(kv, INDEX))).value)
            etf_info = orjson.loads((await kv.get(ETF)).value or b"")
            assert {k: index_info[k] for k in ("name", "kind", "board", "pinyin")} == {
                "name": "沪深300", "kind": "index", "board": "main", "pinyin": "HS300",
            }  # fmt: skip
            assert (index_info["limit_up"], index_info["limit_down"]) == (0, 0)
            assert {k: etf_info[k] for k in ("name", "kind", "price_tick", "pinyin")} == {
                "name": "沪深300ETF", "kind": "etf", "price_tick": 0.001, "pinyin": "HS300ETF",
            }  # fmt: skip
            index_quote = await eventually(
                lambda: last_payload(js, "MD_QUOTE", f"md.quote.{INDEX}")
            )
            etf_quote = await eventually(lambda: last_payload(js, "MD_QUOTE", f"md.quote.{ETF}"))
            assert (index_quote["bids"], index_quote["asks"], index_quote["limit_up"]) == (
                [],
                [],
                0,
            )
            assert etf_quote["limit_up"] == etf_info["limit_up"] > 0
            assert await last_payload(js, "MD_DEPTH", f"md.depth.{INDEX}") is None  # no book
            assert await last_payload(js, "MD_DEPTH", f"md.depth.{ETF}") is not None

            async with running_bridge(url) as bridge:
                await _rest(bridge.http_url)
                await _websocket(bridge.ws_url)
    finally:
        await nc.close()


async def _rest(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        entry = (await http.get(f"/v1/symbols/{INDEX}")).json()
        assert (entry["kind"], entry["name"]) == ("index", "沪深300")
        quotes = (await http.get("/v1/quotes", params={"symbols": f"{INDEX},{ETF}"})).json()
        by_symbol = {item["data"]["symbol"]: item["data"] for item in quotes["items"]}
        assert by_symbol[INDEX]["bids"] == []
        assert by_symbol[INDEX]["limit_down"] == 0
        etf_price = by_symbol[ETF]["last_price"]
        assert round(etf_price, 3) == etf_price
        found = (await http.get("/v1/symbols", params={"q": "000001"})).json()["items"]
        assert [(i["symbol"], i["name"], i["kind"]) for i in found[:2]] == [
            ("000001.SZ", "平安银行", "stock"),
            ("000001.SH", "上证指数", "index"),
        ]
        unknown = await http.get("/v1/quotes/000001")
        assert unknown.status_code == 404
        problem = unknown.json()
        assert problem["suggestions"][:2] == ["000001.SZ", "000001.SH"]
        assert "000001.SZ 平安银行" in problem["detail"]
        assert "000001.SH 上证指数" in problem["detail"]


async def _websocket(ws_url: str) -> None:
    ws = await WsClient.open(ws_url)
    try:
        await ws.wait_for(lambda f: f["data"].get("event") == "connected")
        reply = await ws.request("subscribe", {"symbols": [INDEX, ETF], "data_type": "quote"})
        assert [s["status"] for s in reply["data"]["subscriptions"]] == ["subscribed"] * 2
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 2:
            frame = await ws.data()
            if frame["type"] == "market_data":
                seen[frame["data"]["symbol"]] = frame["data"]
        assert seen[INDEX]["asks"] == []
        assert seen[INDEX]["limit_up"] == 0
        assert seen[ETF]["limit_up"] > 0
        reply = await ws.request("subscribe", {"symbol": "000001", "data_type": "quote"})
        text = orjson.dumps(reply).decode()
        assert "000001.SZ" in text
        assert "000001.SH" in text
        assert "平安银行" in text
        assert "上证指数" in text
    finally:
        await ws.close()


async def _entry(kv: Any, key: str) -> Any:
    try:
        return await kv.get(key)
    except Exception:
        return None
