"""The REST API on a real nats-server and a real uvicorn: values, history, errors, caching."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, KLineData, QuoteData, data_subject, status_subject
from schemas.rest import KLineSeries, MarketStatus, QuoteList, QuoteSnapshot, SymbolList
from tests.support.market import publish
from tests.support.records import bar, provision, publish_bar, publish_payload, trade
from tests.support.servers import BridgeHandle, running_bridge

NAMES = {
    "601628.SH": "中国人寿",
    "600016.SH": "民生银行",
    "000568.SZ": "泸州老窖",
    "300124.SZ": "汇川技术",
    "831010.BJ": "凯添燃气",
    "601998.SH": "中信银行",
    "002466.SZ": "天齐锂业",
    "603288.SH": "海天味业",  # listed, never published
}
MINUTE = 60_000
SCAN_BUDGET = 200


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await provision(nats_server.url, NAMES)
    async with running_bridge(nats_server.url, rest_history_max_scan=SCAN_BUDGET) as handle:
        yield handle


@pytest.fixture
async def http(bridge: BridgeHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.http_url, timeout=10) as client:
        yield client


def _minute(offset: int) -> int:
    """The start of a minute bar ``offset`` minutes from an hour ago."""
    return (int(time.time() * 1000) // MINUTE - 60 + offset) * MINUTE


async def test_quote_carries_seq_epoch_and_the_published_payload(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    seq = await publish(nc.jetstream(), DataType.QUOTE, "601628.SH", 50.12)
    response = await http.get("/v1/quotes/601628.SH")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = QuoteSnapshot.model_validate(response.json())
    assert body.metadata.seq == seq
    assert body.metadata.stream == "MD_QUOTE"
    assert body.metadata.epoch
    assert body.metadata.subject == "md.quote.601628.SH"
    assert body.data.last_price == 50.12
    stored = await nc.jetstream().get_last_msg("MD_QUOTE", "md.quote.601628.SH")
    assert response.json()["data"] == orjson.loads(stored.data or b"")
    assert response.headers["x-stream-seq"] == str(seq)
    assert response.headers["x-stream-epoch"] == body.metadata.epoch
    assert response.headers["cache-control"] == "private, max-age=1"


async def test_etag_gives_304_until_the_value_changes(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    await publish(nc.jetstream(), DataType.QUOTE, "600016.SH", 35.0)
    first = await http.get("/v1/quotes/600016.SH")
    etag = first.headers["etag"]
    empty = await http.get("/v1/quotes", params={"symbols": " , "})
    assert (empty.json()["items"], empty.json()["errors"]) == ([], [])
    again = await http.get("/v1/quotes/600016.SH", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await http.get("/v1/quotes/600016.SH", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    await publish(nc.jetstream(), DataType.QUOTE, "600016.SH", 35.01)
    changed = await http.get("/v1/quotes/600016.SH", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["data"]["last_price"] == 35.01


async def test_unknown_symbol_is_a_problem_with_suggestions(http: httpx.AsyncClient) -> None:
    for asked in ["601628", "中国人寿", "ZGRS", "601629.SH", "601628.SZ"]:
        response = await http.get(f"/v1/quotes/{asked}")
        assert response.status_code == 404, asked
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "UNKNOWN_SYMBOL"
        assert problem["status"] == 404
        assert problem["title"] == "Not Found"
        assert problem["type"] == "/docs#problem-UNKNOWN_SYMBOL"
        assert problem["instance"] == f"/v1/quotes/{asked}"
        assert "601628.SH" in problem["suggestions"], asked


async def test_known_symbol_without_data_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/depth/603288.SH")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_depth_snapshot(nc: NatsClient, http: httpx.AsyncClient) -> None:
    seq = await publish(nc.jetstream(), DataType.DEPTH, "000568.SZ", 150.5)
    response = await http.get("/v1/depth/000568.SZ")
    assert response.status_code == 200
    assert response.json()["metadata"]["seq"] == seq
    assert response.json()["metadata"]["stream"] == "MD_DEPTH"
    assert response.json()["data"]["bids"] == [[150.49, 100]]


async def test_several_quotes_keep_order_and_report_bad_symbols(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    seqs = {s: await publish(js, DataType.QUOTE, s, 20.0) for s in ["300124.SZ", "831010.BJ"]}
    response = await http.get(
        "/v1/quotes", params={"symbols": "831010.BJ, 300124.SZ,bogus,603288.SH,831010.BJ"}
    )
    assert response.status_code == 200
    body = QuoteList.model_validate(response.json())
    assert [i.data.symbol for i in body.items] == ["831010.BJ", "300124.SZ"]
    assert [i.metadata.seq for i in body.items] == [seqs["831010.BJ"], seqs["300124.SZ"]]
    errors = {e.symbol: e for e in body.errors}
    assert errors["bogus"].code == "UNKNOWN_SYMBOL"
    assert errors["603288.SH"].code == "NOT_FOUND"
    assert body.metadata.stream == "MD_QUOTE"
    empty = await http.get("/v1/quotes", params={"symbols": " , "})
    assert (empty.json()["items"], empty.json()["errors"]) == ([], [])
    again = await http.get(
        "/v1/quotes",
        params={"symbols": "831010.BJ, 300124.SZ,bogus,603288.SH,831010.BJ"},
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/v1/quotes", "symbols"),
        ("/v1/quotes?symbols=" + ",".join(f"{i:06d}.SH" for i in range(501)), "at most 500"),
        ("/v1/klines/601628.SH?period=7m", "period"),
        ("/v1/klines/601628.SH?limit=0", "limit"),
        ("/v1/klines/601628.SH?limit=abc", "limit"),
        ("/v1/klines/601628.SH?start=yesterday", "start"),
        ("/v1/trades/601628.SH?limit=1001", "limit"),
        ("/v1/symbols?limit=-1", "limit"),
        ("/v1/symbols?market=HK", "market"),
        ("/v1/symbols?q=" + "x" * 65, "q"),
    ],
)
async def test_bad_parameters_are_400_problems(
    http: httpx.AsyncClient, path: str, needle: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "BAD_REQUEST"
    assert needle in response.json()["detail"]


async def test_other_methods_are_405_and_unknown_paths_404(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/quotes/601628.SH")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["code"] == "BAD_REQUEST"
    head = await http.head("/v1/symbols/601628.SH")
    assert head.status_code == 200
    assert (await http.get("/v1/nothing-here")).status_code == 404


async def test_symbol_search_uses_the_suggestion_engine(http: httpx.AsyncClient) -> None:
    for query in ["中国人寿", "ZGRS", "601628", "SH601628"]:
        response = await http.get("/v1/symbols", params={"q": query})
        body = SymbolList.model_validate(response.json())
        assert body.items, query
        assert body.items[0].symbol == "601628.SH", query
    partial = (await http.get("/v1/symbols", params={"q": "人寿"})).json()["items"]
    assert "601628.SH" in [i["symbol"] for i in partial]
    banks = (await http.get("/v1/symbols", params={"q": "银行", "market": "SH"})).json()
    assert {"600016.SH", "601998.SH"} <= {i["symbol"] for i in banks["items"]}
    assert all(i["market"] == "SH" for i in banks["items"])


async def test_symbol_listing_pages_and_lookup(http: httpx.AsyncClient) -> None:
    symbols: list[str] = []
    total = 1
    while len(symbols) < total:  # other tests share the directory: page through all of it
        page = (await http.get("/v1/symbols", params={"limit": 500, "offset": len(symbols)})).json()
        symbols += [i["symbol"] for i in page["items"]]
        total = page["total"]
        assert page["items"]
    assert symbols == sorted(symbols)
    assert set(NAMES) <= set(symbols)
    page = (await http.get("/v1/symbols", params={"limit": 2, "offset": 1})).json()
    assert [i["symbol"] for i in page["items"]] == symbols[1:3]
    assert page["total"] == total
    one = await http.get("/v1/symbols/000568.SZ")
    assert one.json()["name"] == "泸州老窖"
    assert one.json()["board"] == "main"
    assert one.headers["cache-control"] == "private, max-age=60"
    cached = await http.get("/v1/symbols/000568.SZ", headers={"If-None-Match": one.headers["etag"]})
    assert cached.status_code == 304
    missing = await http.get("/v1/symbols/000569.SZ")
    assert missing.status_code == 404
    assert "000568.SZ" in missing.json()["suggestions"]


async def test_klines_are_the_latest_version_of_each_bar(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    symbol = "002466.SZ"
    finals = {}
    for minute in range(6):
        start = _minute(minute)
        for step in range(3):  # two updates, then the final bar
            payload = bar(symbol, start, 250 + minute + step / 100, closed=step == 2)
            finals[start] = (await publish_bar(js, payload), payload)
    open_bar = bar(symbol, _minute(6), 300.0, closed=False)
    finals[_minute(6)] = (await publish_bar(js, open_bar), open_bar)
    await publish_bar(js, bar(symbol, _minute(0), 1.0, closed=True, period="5m"))  # other period
    await js.publish(f"md.kline.1m.{symbol}", b"not a bar")  # skipped, never a 500

    latest = KLineSeries.model_validate(
        (await http.get(f"/v1/klines/{symbol}", params={"period": "1m"})).json()
    )
    assert [i.metadata.seq for i in latest.items] == [seq for seq, _ in finals.values()]
    for item, (_, payload) in zip(latest.items, finals.values(), strict=True):
        assert item.data == KLineData.model_validate(payload)
    assert latest.items[-1].data.closed is False
    assert latest.metadata.stream == "MD_KLINE"
    assert latest.metadata.subject == f"md.kline.1m.{symbol}"
    assert latest.metadata.truncated is False

    last_two = (await http.get(f"/v1/klines/{symbol}", params={"limit": 2})).json()["items"]
    assert [i["data"]["timestamp"] for i in last_two] == [
        i.data.timestamp.isoformat(timespec="milliseconds") for i in latest.items[-2:]
    ]
    stamps = list(finals)
    window = (
        await http.get(
            f"/v1/klines/{symbol}",
            params={"start": _iso(stamps[2]), "end": _iso(stamps[4]), "limit": 10},
        )
    ).json()["items"]
    assert [i["metadata"]["seq"] for i in window] == [finals[s][0] for s in stamps[2:5]]
    first_two = (
        await http.get(f"/v1/klines/{symbol}", params={"start": _iso(stamps[1]), "limit": 2})
    ).json()["items"]
    assert [i["metadata"]["seq"] for i in first_two] == [finals[s][0] for s in stamps[1:3]]
    until = (
        await http.get(f"/v1/klines/{symbol}", params={"end": _iso(stamps[3]), "limit": 2})
    ).json()["items"]
    assert [i["metadata"]["seq"] for i in until] == [finals[s][0] for s in stamps[2:4]]
    backwards = {"start": _iso(stamps[4]), "end": _iso(stamps[2])}
    assert (await http.get(f"/v1/klines/{symbol}", params=backwards)).json()["items"] == []
    five = (await http.get(f"/v1/klines/{symbol}", params={"period": "5m"})).json()["items"]
    assert [i["data"]["close"] for i in five] == [1.0]


def _iso(ms: int) -> str:
    from schemas import epoch_ms_to_iso

    return epoch_ms_to_iso(ms)


async def test_trades_are_the_newest_oldest_first_and_the_scan_is_bounded(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    symbol = "601998.SH"
    subject = data_subject(DataType.TRADE, symbol)
    base = int(time.time() * 1000) - 3_600_000
    seqs = [
        await publish_payload(js, subject, trade(symbol, base + i * 5_000, 5 + i / 100, f"t{i}"))
        for i in range(SCAN_BUDGET + 60)
    ]
    recent = (await http.get(f"/v1/trades/{symbol}", params={"limit": 10})).json()
    assert [i["metadata"]["seq"] for i in recent["items"]] == seqs[-10:]
    assert recent["items"][-1]["data"]["trade_id"] == f"t{SCAN_BUDGET + 59}"
    assert recent["metadata"]["truncated"] is False
    everything = (await http.get(f"/v1/trades/{symbol}", params={"limit": 1000})).json()
    assert everything["metadata"]["truncated"] is True
    assert everything["metadata"]["scanned"] <= SCAN_BUDGET
    got = [i["metadata"]["seq"] for i in everything["items"]]
    assert got == sorted(got)
    assert set(got) <= set(seqs)
    assert got[-1] == seqs[-1]  # a truncated tail still ends at the newest trade


async def test_market_status_reports_phase_and_source_health(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    now = _iso(int(time.time() * 1000))
    await publish_payload(
        js,
        status_subject("rest-test-a"),
        {"source": "rest-test-a", "event": "heartbeat", "timestamp": now, "phase": "lunch_break"},
    )
    await publish_payload(
        js,
        status_subject("rest-test-b"),
        {"source": "rest-test-b", "event": "down", "timestamp": now, "phase": "closed"},
    )
    for _ in range(100):  # the status board follows md.status.> asynchronously
        response = await http.get("/v1/market/status")
        status = MarketStatus.model_validate(response.json())
        sources = {s.source: s for s in status.sources}
        if {"rest-test-a", "rest-test-b"} <= set(sources):
            break
        await asyncio.sleep(0.05)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert sources["rest-test-a"].up is True
    assert sources["rest-test-a"].phase == "lunch_break"
    assert sources["rest-test-b"].up is False
    assert status.nats_connected is True
    assert set(status.epochs) >= {"MD_QUOTE", "MD_KLINE"}
    up = [s for s in status.sources if s.up and s.phase is not None]
    assert status.phase == up[0].phase


async def test_quotes_validate_as_the_published_model(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    await publish(nc.jetstream(), DataType.QUOTE, "601628.SH", 51.0)
    body = (await http.get("/v1/quotes/601628.SH")).json()
    QuoteData.model_validate(body["data"])
