"""The benchmark's market: a deterministic A-share universe and pre-encoded quote bodies.

Every quote starts with ``{"pub_us":<16 digits>`` (the publisher's wall clock in
microseconds): the bridge forwards payloads untouched and the peers do too, so one marker
gives every target the same end-to-end latency, publish to client receipt, on one clock.
``QuoteData`` allows extra fields, so the bodies stay valid quotes.
"""

from __future__ import annotations

import random
import time

import orjson

from schemas import (
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

WHOLE_MARKET = 5400
PUB_MARKER = b'{"pub_us":'
PUB_DIGITS = 16

# (market, first code, share of the market): SH main, STAR, SZ main, ChiNext, BJ.
_RANGES: tuple[tuple[Market, int, float], ...] = (
    (Market.SH, 600000, 0.31),
    (Market.SH, 688000, 0.10),
    (Market.SZ, 1, 0.28),
    (Market.SZ, 300001, 0.26),
    (Market.BJ, 830000, 0.05),
)


def symbols(size: int = WHOLE_MARKET) -> list[str]:
    """``size`` distinct symbols spread over the boards like the real market, stable order."""
    out: list[str] = []
    for i, (market, first, share) in enumerate(_RANGES):
        count = size - len(out) if i == len(_RANGES) - 1 else round(size * share)
        out.extend(f"{first + n:06d}.{market.value}" for n in range(count))
    # Interleave the boards so that any prefix of the list is a plausible mix.
    random.Random(7).shuffle(out)
    return out


def prev_close(symbol: str) -> float:
    return round_to_tick(3 + (int(symbol[:6]) * 7919 % 9700) / 100)


def symbol_info(symbol: str) -> SymbolInfo:
    code, market = symbol.split(".")
    board = board_of(symbol)
    prev = prev_close(symbol)
    up, down = limit_prices(prev, board)
    return SymbolInfo(
        symbol=symbol,
        code=code,
        name=f"基准{code}",
        market=Market(market),
        board=board,
        price_tick=0.01,
        prev_close=prev,
        limit_up=up,
        limit_down=down,
    )


def quote_tail(symbol: str, step: int) -> bytes:
    """Everything of a quote body after the ``pub_us`` value (5 levels, ~560 bytes)."""
    prev = prev_close(symbol)
    price = round_to_tick(prev * (1 + ((step * 37) % 41 - 20) / 1000))
    up, down = limit_prices(prev, board_of(symbol))
    bids = [[round_to_tick(price - 0.01 * (i + 1)), 100 * (i + 3)] for i in range(5)]
    asks = [[round_to_tick(price + 0.01 * (i + 1)), 100 * (i + 2)] for i in range(5)]
    volume = 1_000_000 + step * 1300
    body = {
        "symbol": symbol,
        "timestamp": epoch_ms_to_iso(time.time() * 1000),
        "last_price": price,
        "open": prev,
        "high": max(prev, price),
        "low": min(prev, price),
        "prev_close": prev,
        "change": round_to_tick(price - prev),
        "change_percent": round((price - prev) / prev * 100, 2),
        "volume": volume,
        "amount": round(volume * price, 2),
        "bid_price": bids[0][0],
        "ask_price": asks[0][0],
        "bid_volume": bids[0][1],
        "ask_volume": asks[0][1],
        "bids": bids,
        "asks": asks,
        "limit_up": up,
        "limit_down": down,
        "phase": TradingPhase.CONTINUOUS.value,
        "source": "bench",
    }
    return b"," + orjson.dumps(body)[1:]


def quote_subject(symbol: str) -> str:
    return data_subject(DataType.QUOTE, symbol)


def pub_us_of(body: bytes) -> int:
    """The publish stamp of a body that starts with the marker (tests and checks)."""
    start = len(PUB_MARKER)
    return int(body[start : start + PUB_DIGITS])
