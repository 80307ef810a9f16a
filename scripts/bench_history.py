"""History read speed by JetStream shape: which store serves K-line history best.

Run: ``.venv/bin/python scripts/bench_history.py --symbols 2000 --bars 250``

Starts its own nats-server and stores the same daily bars three ways:

- stream: one message per bar in MD_BAR_1D (subject per symbol, ``max_msgs_per_subject``);
- kv: one key per symbol whose value is the JSON array of its bars (rewritten per bar);
- object store: one object per symbol holding the same array.

Then times two reads: the last 250 bars of one symbol, and the last bar of every symbol; and
the same 250 bars as a client gets them from a bridge (REST, and ``subscribe … "history"``).
Prints one JSON object (medians and p90 in ms); docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import nats
import orjson
from nats.js.api import KeyValueConfig, ObjectStoreConfig

from bridge.recovery.direct import BATCH, DirectReader
from bridge.recovery.series import Span, tail
from mdbridge.natsserver import NatsServer, free_port
from schemas.history import HistoryRetention, history_stream, history_subject
from services.history.writer import bar_headers
from services.provision import StreamPolicy, ensure_streams
from services.publisher import Publisher
from tests.support.market import put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

DAY_MS = 86_400_000
T0 = 1_700_000_000_000


def symbols_of(count: int) -> list[str]:
    return [f"6{i:05d}.SH" for i in range(count)]


def bar(symbol: str, i: int) -> dict[str, Any]:
    price = 10 + (i % 50) / 10
    stamp = time.strftime("%Y-%m-%dT00:00:00+08:00", time.gmtime((T0 + i * DAY_MS) / 1000))
    return {
        "symbol": symbol, "timestamp": stamp, "period": "1d", "open": price, "high": price + 0.2,
        "low": price - 0.2, "close": price + 0.1, "volume": 1_234_500, "amount": 12_345_678.9,
        "closed": True, "source": "bench",
    }  # fmt: skip


async def timed(fn: Callable[[], Awaitable[object]], rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1 if len(samples) > 1 else 0], 2),
    }


async def run(symbols: int, bars: int, deep: int, rounds: int) -> dict[str, Any]:
    names = symbols_of(symbols)
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "js", port=free_port()).start()
        try:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js, StreamPolicy(history=HistoryRetention(daily_bars=deep)))
            kv = await js.create_key_value(KeyValueConfig(bucket="bench_bars", history=1))
            obs = await js.create_object_store("bench_bars", ObjectStoreConfig())
            publisher = Publisher(js, max_in_flight=1000)
            started = time.perf_counter()
            for symbol in names:
                subject = history_subject("1d", symbol)
                count = deep if symbol == names[0] else bars
                for i in range(count):
                    await publisher.publish_raw(
                        subject, orjson.dumps(bar(symbol, i)), bar_headers("1d", symbol, i)
                    )
            await publisher.flush(60)
            stream_write_s = time.perf_counter() - started
            started = time.perf_counter()
            for symbol in names:
                array = orjson.dumps([bar(symbol, i) for i in range(bars)])
                await kv.put(symbol, array)
            kv_write_s = time.perf_counter() - started
            for symbol in names[:200]:  # the object store is slow to fill; 200 suffice to read
                await obs.put(symbol, orjson.dumps([bar(symbol, i) for i in range(bars)]))
            stream = history_stream("1d")
            info = await js.stream_info(stream)
            reader = DirectReader(nc)
            one = names[1]
            span = Span(stream, history_subject("1d", one), 1, info.state.last_seq)
            deep_span = Span(stream, history_subject("1d", names[0]), 1, info.state.last_seq)

            async def stream_tail(s: Span = span) -> None:
                series = await tail(
                    reader, s, end_ms=None, limit=250, collapse=True, window_ms=250 * DAY_MS,
                    budget=10_000,
                )  # fmt: skip
                assert len(series.items) == 250, len(series.items)

            async def stream_scan(s: Span = span) -> None:
                """The whole subject from its first message (it holds at most the retention)."""
                found = await reader.read(stream, s.subject, 1, 10_000)
                assert len(found[-250:]) == 250

            async def kv_get() -> None:
                entry = await kv.get(one)
                assert len(orjson.loads(entry.value or b"[]")[-250:]) == 250

            async def obs_get() -> None:
                result = await obs.get(names[1])
                assert len(orjson.loads(result.data or b"[]")[-250:]) == 250

            subjects = [history_subject("1d", s) for s in names]

            async def stream_last_all() -> None:
                got = 0
                for i in range(0, len(subjects), BATCH):
                    got += len(await reader.last_of(stream, subjects[i : i + BATCH]))
                assert got == len(names), got

            async def kv_last_all() -> None:
                """A KV holding arrays: every value whole, then its last element."""
                watcher = await kv.watchall(ignore_deletes=True)
                got = 0
                async for entry in watcher:
                    if entry is None:
                        break
                    orjson.loads(entry.value or b"[]")[-1]
                    got += 1
                await watcher.stop()  # type: ignore[no-untyped-call]
                assert got == len(names), got

            result = {
                "symbols": symbols,
                "bars_per_symbol": bars,
                "deep_bars": deep,
                "write": {
                    "stream_bars_per_s": round(symbols * bars / stream_write_s),
                    "kv_arrays_per_s": round(symbols / kv_write_s),
                },
                "last_250_of_one": {
                    "stream_tail_by_time": await timed(stream_tail, rounds),
                    "stream_tail_by_time_deep": await timed(lambda: stream_tail(deep_span), rounds),
                    "stream_scan_subject": await timed(stream_scan, rounds),
                    "stream_scan_subject_deep": await timed(lambda: stream_scan(deep_span), rounds),
                    "kv_array_get": await timed(kv_get, rounds),
                    "object_get": await timed(obs_get, rounds),
                },
                "last_of_every_symbol": {
                    "stream_multi_last": await timed(stream_last_all, max(3, rounds // 10)),
                    "kv_watch_arrays": await timed(kv_last_all, 3),
                },
                "stored_bytes": {
                    "stream": (await js.stream_info(stream)).state.bytes,
                    "kv": (await js.stream_info("KV_bench_bars")).state.bytes,
                },
            }
            result["served_by_the_bridge"] = await served(nc, server.url, names[1], bars, rounds)
            await nc.close()
            return result
        finally:
            server.stop()


async def served(nc: Any, url: str, symbol: str, bars: int, rounds: int) -> dict[str, Any]:
    """REST ``/v1/klines`` and ``subscribe … "history"`` for 250 daily bars, end to end, while
    the forming day bar has 2,000 updates in MD_KLINE (every snapshot updates it)."""
    js = nc.jetstream()
    await put_directory(js, [symbol])
    forming = bar(symbol, bars) | {"closed": False}
    for i in range(2000):
        forming["volume"] = 1000 + i
        await js.publish(f"md.kline.1d.{symbol}", orjson.dumps(forming))
    async with running_bridge(url) as bridge:
        async with httpx.AsyncClient(base_url=bridge.http_url, timeout=10) as http:

            async def rest() -> None:
                answer = await http.get(
                    f"/v1/klines/{symbol}", params={"period": "1d", "limit": 250}
                )
                assert len(answer.json()["items"]) == 250

            rest_timing = await timed(rest, rounds)
        client = await WsClient.open(bridge.ws_url)
        await client.next()

        async def subscribe() -> None:
            request = {"symbol": symbol, "data_type": "kline", "frequency": "1d", "history": 250}
            reply = await client.request("subscribe", request)
            await client.wait_for(lambda f: f["data"].get("mode") == "history")
            key = reply["data"]["subscriptions"][0]["subscription_id"]
            await client.request("unsubscribe", {"subscription_ids": [key]})

        ws_timing = await timed(subscribe, max(3, rounds // 2))
        await client.close()
    return {"rest_last_250_daily": rest_timing, "ws_subscribe_history_250": ws_timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--bars", type=int, default=250)
    parser.add_argument("--deep", type=int, default=2500, help="bars of the first symbol")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.symbols, args.bars, args.deep, args.rounds))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
