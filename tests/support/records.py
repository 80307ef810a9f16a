"""Publishing exact payloads (bars with chosen times, trades, source status) for REST tests."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from nats.js import JetStreamContext

from schemas import SYMBOLS_BUCKET, DataType, data_subject, epoch_ms_to_iso, round_to_tick
from tests.support.market import symbol_info

_ids = itertools.count(1)


async def publish_payload(js: JetStreamContext, subject: str, payload: dict[str, Any]) -> int:
    ack = await js.publish(
        subject, orjson.dumps(payload), headers={"Nats-Msg-Id": f"rec-{next(_ids)}"}
    )
    return int(ack.seq)


def bar(
    symbol: str, start_ms: int, price: float, *, closed: bool, period: str = "1m", volume: int = 100
) -> dict[str, Any]:
    price = round_to_tick(price)
    return {
        "symbol": symbol, "timestamp": epoch_ms_to_iso(start_ms),
        "start": epoch_ms_to_iso(start_ms), "period": period,
        "open": price, "high": price, "low": price, "close": price, "volume": volume,
        "amount": round(price * volume, 2), "closed": closed, "source": "test",
    }  # fmt: skip


def trade(symbol: str, ts_ms: int, price: float, trade_id: str) -> dict[str, Any]:
    price = round_to_tick(price)
    return {
        "symbol": symbol, "timestamp": epoch_ms_to_iso(ts_ms), "price": price, "volume": 100,
        "amount": round(price * 100, 2), "direction": "buy", "trade_id": trade_id,
        "derived": False, "source": "test",
    }  # fmt: skip


async def publish_bar(js: JetStreamContext, payload: dict[str, Any]) -> int:
    subject = data_subject(DataType.KLINE, payload["symbol"], payload["period"])
    return await publish_payload(js, subject, payload)


async def put_named(js: JetStreamContext, names: dict[str, str]) -> None:
    """Directory entries with chosen names (for searches by name and pinyin initials)."""
    kv = await js.key_value(SYMBOLS_BUCKET)
    for symbol, name in names.items():
        info = symbol_info(symbol).model_copy(update={"name": name})
        await kv.put(symbol, info.model_dump_json().encode())


async def provision(nats_url: str, names: dict[str, str] | None = None) -> None:
    """Streams, bucket and directory entries, for module-scoped bridges (``nc`` is per test)."""
    import nats

    from services.provision import ensure_streams

    client = await nats.connect(nats_url)
    try:
        await ensure_streams(client.jetstream())
        if names:
            await put_named(client.jetstream(), names)
    finally:
        await client.drain()
