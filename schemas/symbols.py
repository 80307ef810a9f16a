"""A-share symbol rules: format, market, board and price-limit band. Pure functions."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

# [0-9], not \d: \d also matches other scripts' digits ("６００００0.SH").
SYMBOL_RE = re.compile(r"^([0-9]{6})\.(SH|SZ|BJ)$")
MARKET_WILDCARD_RE = re.compile(r"^\*\.(SH|SZ|BJ)$")


class Market(StrEnum):
    SH = "SH"
    SZ = "SZ"
    BJ = "BJ"


class Board(StrEnum):
    """Listing board; decides the daily price-limit band."""

    MAIN = "main"
    CHINEXT = "chinext"  # 创业板, 300xxx/301xxx
    STAR = "star"  # 科创板, 688xxx/689xxx
    BJ = "bj"  # 北交所


LIMIT_PCT: dict[Board, Decimal] = {
    Board.MAIN: Decimal("0.10"),
    Board.CHINEXT: Decimal("0.20"),
    Board.STAR: Decimal("0.20"),
    Board.BJ: Decimal("0.30"),
}
ST_LIMIT_PCT = Decimal("0.05")


def is_symbol(text: str) -> bool:
    # fullmatch: ``$`` alone would also accept a trailing newline ("600000.SH\n").
    return SYMBOL_RE.fullmatch(text) is not None


def is_market_wildcard(text: str) -> bool:
    return MARKET_WILDCARD_RE.fullmatch(text) is not None


def board_of(symbol: str) -> Board:
    code, market = symbol.split(".")
    if market == Market.BJ:
        return Board.BJ
    if code.startswith(("300", "301")):
        return Board.CHINEXT
    if code.startswith(("688", "689")):
        return Board.STAR
    return Board.MAIN


def round_to_tick(price: float | Decimal, tick: float | Decimal = Decimal("0.01")) -> float:
    """Round half-up to the price tick and return a float with no binary noise.

    ``round_to_tick(11.370000000000001)`` is ``11.37``: the shortest repr of the
    nearest double, so JSON carries exactly the tick's decimals.
    """
    tick_d = Decimal(str(tick))
    steps = (Decimal(str(price)) / tick_d).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(steps * tick_d)


def limit_prices(
    prev_close: float, board: Board, *, st: bool = False, tick: float = 0.01
) -> tuple[float, float]:
    """(limit_up, limit_down) from the previous close, rounded half-up to the tick."""
    pct = ST_LIMIT_PCT if st and board is Board.MAIN else LIMIT_PCT[board]
    base = Decimal(str(prev_close))
    return (
        round_to_tick(base * (1 + pct), tick),
        round_to_tick(base * (1 - pct), tick),
    )
