"""Publishing hand-made, valid market data straight into JetStream for bridge tests."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson
from nats.js import JetStreamContext

from schemas import (
    SYMBOLS_BUCKET,
    DataType,
    Market,
    SymbolInfo,
    TradingPhase,
    board_of,
    data_subject,
    epoch_ms_to_iso,
    limit_prices,
    round_to_tick,
)

_msg_ids = itertools.count(1)

NAMES = {
    "600000.SH": "浦发银行",
    "600519.SH": "贵州茅台",
    "000001.SZ": "平安银行",
    "300750.SZ": "宁德时代",
    "688981.SH": "中芯国际",
    "430047.BJ": "诺思兰德",
}


def symbol_info(symbol: str, prev_close: float = 10.0) -> SymbolInfo:
    code, market = symbol.split(".")
    board = board_of(symbol)
    up, down = limit_prices(prev_close, board)
    return SymbolInfo(
        symbol=symbol,
        code=code,
        name=NAMES.get(symbol, f"测试{code}"),
        market=Market(market),
        board=board,
        price_tick=0.01,
        prev_close=prev_close,
        limit_up=up,
        limit_down=down,
    )


async def put_directory(js: JetStreamContext, symbols: list[str]) -> None:
    kv = await js.key_value(SYMBOLS_BUCKET)
    for symbol in symbols:
        await kv.put(symbol, symbol_info(symbol).model_dump_json().encode())


def quote(
    symbol: str, price: float, volume: int = 1000, ts_ms: int | None = None
) -> dict[str, Any]:
    ts = epoch_ms_to_iso(ts_ms if ts_ms is not None else time.time() * 1000)
    price = round_to_tick(price)
    prev = 10.0
    return {
        "symbol": symbol,
        "timestamp": ts,
        "last_price": price,
        "open": prev,
        "high": max(prev, price),
        "low": min(prev, price),
        "prev_close": prev,
        "change": round_to_tick(price - prev),
        "change_percent": round((price - prev) / prev * 100, 2),
        "volume": volume,
        "amount": round(volume * price, 2),
        "bid_price": round_to_tick(price - 0.01),
        "ask_price": round_to_tick(price + 0.01),
        "bid_volume": 100,
        "ask_volume": 200,
        "bids": [[round_to_tick(price - 0.01), 100]],
        "asks": [[round_to_tick(price + 0.01), 200]],
        "limit_up": 11.0,
        "limit_down": 9.0,
        "phase": TradingPhase.CONTINUOUS.value,
        "source": "test",
    }


def payload_for(data_type: DataType, symbol: str, price: float) -> dict[str, Any]:
    now = epoch_ms_to_iso(time.time() * 1000)
    price = round_to_tick(price)
    if data_type is DataType.QUOTE:
        return quote(symbol, price)
    if data_type is DataType.KLINE:
        return {
            "symbol": symbol, "timestamp": now, "start": now, "period": "1m", "open": price,
            "high": price,
            "low": price, "close": price, "volume": 100, "amount": price * 100, "closed": False,
            "source": "test",
        }  # fmt: skip
    if data_type is DataType.TRADE:
        return {
            "symbol": symbol, "timestamp": now, "price": price, "volume": 100,
            "amount": price * 100, "direction": "buy", "trade_id": str(next(_msg_ids)),
            "derived": True, "source": "test",
        }  # fmt: skip
    return {
        "symbol": symbol, "timestamp": now, "bids": [[round_to_tick(price - 0.01), 100]],
        "asks": [[round_to_tick(price + 0.01), 100]], "levels": 5, "source": "test",
    }  # fmt: skip


async def publish(
    js: JetStreamContext, data_type: DataType, symbol: str, price: float, period: str = "1m"
) -> int:
    """Publish one message; returns its stream sequence."""
    subject = data_subject(data_type, symbol, period if data_type is DataType.KLINE else None)
    body = orjson.dumps(payload_for(data_type, symbol, price))
    ack = await js.publish(subject, body, headers={"Nats-Msg-Id": f"test-{next(_msg_ids)}"})
    return int(ack.seq)
