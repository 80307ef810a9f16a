"""A deterministic, plausible A-share universe: well-known names first (stocks of every board,
then the major indices and ETFs/LOFs, real codes and names), then generated stocks: a few ST
(±5 %) and a few listed on the sim's first day (no limit for their first five trading days)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from schemas import Board, Kind, Market, SymbolInfo, board_of, limit_prices, round_to_tick
from schemas.symbols import LIMIT_PCT, band_prices, default_tick

PRICE_TICK = 0.01

# Real, well-known listings (code, market, name, approximate price in CNY) across every board.
# They come first, so even a tiny universe has 600000.SH, 000001.SZ and 600519.SH.
NAMED: tuple[tuple[str, Market, str, float], ...] = (
    ("600000", Market.SH, "浦发银行", 10.2),
    ("000001", Market.SZ, "平安银行", 11.3),
    ("600519", Market.SH, "贵州茅台", 1500.0),
    ("600036", Market.SH, "招商银行", 40.5),
    ("601318", Market.SH, "中国平安", 52.0),
    ("000858", Market.SZ, "五粮液", 130.0),
    ("000333", Market.SZ, "美的集团", 72.0),
    ("300750", Market.SZ, "宁德时代", 250.0),
    ("300059", Market.SZ, "东方财富", 22.0),
    ("688981", Market.SH, "中芯国际", 90.0),
    ("688111", Market.SH, "金山办公", 280.0),
    ("430047", Market.BJ, "诺思兰德", 12.5),
    ("830799", Market.BJ, "艾融软件", 35.0),
    ("601398", Market.SH, "工商银行", 6.5),
    ("601988", Market.SH, "中国银行", 5.2),
    ("600030", Market.SH, "中信证券", 26.0),
    ("600276", Market.SH, "恒瑞医药", 50.0),
    ("600887", Market.SH, "伊利股份", 28.0),
    ("600900", Market.SH, "长江电力", 28.5),
    ("601012", Market.SH, "隆基绿能", 18.0),
    ("601899", Market.SH, "紫金矿业", 17.0),
    ("603259", Market.SH, "药明康德", 55.0),
    ("600028", Market.SH, "中国石化", 6.0),
    ("000651", Market.SZ, "格力电器", 42.0),
    ("000725", Market.SZ, "京东方A", 4.2),
    ("002594", Market.SZ, "比亚迪", 280.0),
    ("002415", Market.SZ, "海康威视", 30.0),
    ("002475", Market.SZ, "立讯精密", 38.0),
    ("001979", Market.SZ, "招商蛇口", 10.0),
    ("300760", Market.SZ, "迈瑞医疗", 250.0),
    ("300015", Market.SZ, "爱尔眼科", 13.0),
    ("688041", Market.SH, "海光信息", 140.0),
    ("688599", Market.SH, "天合光能", 18.0),
    ("835185", Market.BJ, "贝特瑞", 30.0),
    ("872808", Market.BJ, "曙光数创", 40.0),
)

# Major indices (code, market, name, approximate level): no book, no trades, no limits.
INDICES: tuple[tuple[str, Market, str, float], ...] = (
    ("000001", Market.SH, "上证指数", 3300.0),
    ("399001", Market.SZ, "深证成指", 10500.0),
    ("000300", Market.SH, "沪深300", 3900.0),
    ("399006", Market.SZ, "创业板指", 2150.0),
    ("000688", Market.SH, "科创50", 1000.0),
    ("000016", Market.SH, "上证50", 2700.0),
    ("000905", Market.SH, "中证500", 5800.0),
    ("000852", Market.SH, "中证1000", 6000.0),
    ("899050", Market.BJ, "北证50", 1200.0),
)
# Funds (code, market, name, approximate price, kind, limit): a 0.001 tick; those tracking
# ChiNext or STAR indices have ±20 %.
FUNDS: tuple[tuple[str, Market, str, float, Kind, Decimal], ...] = (
    ("510300", Market.SH, "沪深300ETF", 3.912, Kind.ETF, Decimal("0.10")),
    ("510050", Market.SH, "上证50ETF", 2.750, Kind.ETF, Decimal("0.10")),
    ("510500", Market.SH, "中证500ETF", 5.800, Kind.ETF, Decimal("0.10")),
    ("159915", Market.SZ, "创业板ETF", 2.105, Kind.ETF, LIMIT_PCT[Board.CHINEXT]),
    ("588000", Market.SH, "科创50ETF", 1.000, Kind.ETF, LIMIT_PCT[Board.STAR]),
    ("512880", Market.SH, "证券ETF", 1.050, Kind.ETF, Decimal("0.10")),
    ("518880", Market.SH, "黄金ETF", 6.100, Kind.ETF, Decimal("0.10")),
    ("161005", Market.SZ, "富国天惠", 2.300, Kind.LOF, Decimal("0.10")),
    ("501018", Market.SH, "南方原油", 1.400, Kind.LOF, Decimal("0.10")),
)

# Code ranges per board (inclusive) and the board's share of the real market.
CODE_RANGES: dict[tuple[Market, Board], tuple[tuple[int, int], ...]] = {
    (Market.SH, Board.MAIN): (
        (600000, 600999),
        (601000, 601999),
        (603000, 603999),
        (605000, 605599),
    ),
    (Market.SH, Board.STAR): ((688000, 688999),),
    (Market.SZ, Board.MAIN): ((1, 999), (1201, 1399), (2001, 2999)),
    (Market.SZ, Board.CHINEXT): ((300001, 300999), (301001, 301599)),
    (Market.BJ, Board.BJ): ((430017, 430799), (830000, 839999), (870000, 873999), (920000, 920999)),
}
BOARD_WEIGHTS: dict[tuple[Market, Board], float] = {
    (Market.SH, Board.MAIN): 0.31,
    (Market.SH, Board.STAR): 0.105,
    (Market.SZ, Board.MAIN): 0.28,
    (Market.SZ, Board.CHINEXT): 0.255,
    (Market.BJ, Board.BJ): 0.05,
}
# Median price per board (growth boards trade richer) for the lognormal prev_close.
BOARD_MEDIAN_PRICE: dict[Board, float] = {
    Board.MAIN: 11.0,
    Board.STAR: 32.0,
    Board.CHINEXT: 22.0,
    Board.BJ: 14.0,
}
MIN_PRICE, MAX_PRICE = 3.0, 200.0
ST_SHARE = 0.025  # of generated main-board names
NEW_LISTING_SHARE = 0.004  # of generated names: listed on the sim's first day


def _words(text: str) -> tuple[str, ...]:
    """Two-character words written back to back."""
    return tuple(text[i : i + 2] for i in range(0, len(text), 2))


_PREFIXES = _words(
    "华东华北华南西部东方南方北方中原江苏浙江安徽福建江西山东河南湖北湖南广东广西海南"
    "四川云南陕西甘肃青海宁夏新疆辽宁吉林天津上海重庆深圳北京苏州杭州宁波厦门青岛大连"
    "成都武汉长沙合肥南京无锡常州佛山东莞金陵长城黄河泰山华夏中华神州天山昆仑峨眉黄山"
    "海天恒信永泰鼎盛万和博远瑞丰鸿达嘉华宏达新华国泰汇通亿利天润凯盛中科华信光明同方"
    "远大盛达金龙银河星辰万向正泰宝丰信达"
)
_SUFFIXES = _words(
    "科技电子医药生物能源新材化工环保电力通信信息软件智能精工机械重工汽车电气光电材料"
    "股份控股实业发展集团食品酒业纺织服饰家居建设建工地产物流港口航空交通矿业钢铁有色"
    "黄金铝业水泥玻璃建材农业种业牧业渔业药业医疗健康传媒文化教育旅游酒店商业百货网络"
    "数据装备仪器储能锂电光伏风电氢能水务燃气热电特钢稀土铜业化纤塑业橡胶轮胎造纸包装"
    "影视微电芯源航天"
)
MAX_UNIVERSE = 7000  # codes and names run out well above the real market's ~5,400


def _symbol(code: str, market: Market) -> str:
    return f"{code}.{market.value}"


def _info(
    code: str,
    market: Market,
    name: str,
    price: float,
    *,
    st: bool = False,
    kind: Kind = Kind.STOCK,
    fund_pct: Decimal | None = None,
    listed: date | None = None,
) -> SymbolInfo:
    board = board_of(_symbol(code, market))
    tick = default_tick(kind)
    prev_close = round_to_tick(price, tick)
    if fund_pct is not None:
        limit_up, limit_down = band_prices(prev_close, fund_pct, tick)
    else:
        day = None if listed is None else 1
        limit_up, limit_down = limit_prices(
            prev_close, board, st=st, tick=tick, kind=kind, listing_day=day
        )
    return SymbolInfo(
        symbol=_symbol(code, market),
        code=code,
        name=name,
        market=market,
        board=board,
        price_tick=tick,
        prev_close=prev_close,
        limit_up=limit_up,
        limit_down=limit_down,
        is_st=st,
        kind=kind,
        listed=listed,
    )


def _names(rng: random.Random, taken: set[str]) -> Iterator[str]:
    """Every prefix+suffix pair once, in a seeded order, skipping names already used."""
    pairs = [p + s for p in _PREFIXES for s in _SUFFIXES]
    rng.shuffle(pairs)
    return (name for name in pairs if name not in taken)


def named_universe() -> list[SymbolInfo]:
    """The real listings, in order: stocks, indices, funds."""
    stocks = [_info(code, market, name, price) for code, market, name, price in NAMED]
    indices = [_info(c, m, name, level, kind=Kind.INDEX) for c, m, name, level in INDICES]
    funds = [
        _info(code, market, name, price, kind=kind, fund_pct=pct)
        for code, market, name, price, kind, pct in FUNDS
    ]
    return stocks + indices + funds


def build_universe(seed: int, size: int, *, today: date | None = None) -> list[SymbolInfo]:
    """``size`` unique symbols, deterministic for ``seed``; new listings are listed ``today``
    (the sim's first day; without it they trade as old listings).

    A smaller universe is a prefix of a larger one with the same seed.
    """
    if not 0 <= size <= MAX_UNIVERSE:
        raise ValueError(f"universe size must be between 0 and {MAX_UNIVERSE}")
    universe = named_universe()[:size]
    taken = {info.symbol for info in universe}
    rng = random.Random(f"universe:{seed}")
    named_names = {info.name for info in named_universe()}
    names = _names(random.Random(f"names:{seed}"), named_names)
    codes = {key: _codes(seed, key, taken) for key in CODE_RANGES}
    boards = list(BOARD_WEIGHTS)
    weights = list(BOARD_WEIGHTS.values())
    while len(universe) < size:
        market, board = rng.choices(boards, weights)[0]
        code = next(codes[market, board], None)
        if code is None:  # board full (only near MAX_UNIVERSE): draw another board
            weights[boards.index((market, board))] = 0.0
            continue
        st = board is Board.MAIN and rng.random() < ST_SHARE
        name = next(names)
        if st:
            name = ("*ST" if rng.random() < 0.5 else "ST") + name
        price = _price(rng, board)
        fresh = not st and rng.random() < NEW_LISTING_SHARE
        listed = today if fresh else None
        universe.append(_info(code, market, name, price, st=st, listed=listed))
    return universe


def _codes(seed: int, key: tuple[Market, Board], taken: set[str]) -> Iterator[str]:
    """The board's codes in a seeded order, skipping symbols already in the universe."""
    market, board = key
    codes = [code for low, high in CODE_RANGES[key] for code in range(low, high + 1)]
    random.Random(f"codes:{seed}:{market.value}:{board.value}").shuffle(codes)
    return (f"{c:06d}" for c in codes if _symbol(f"{c:06d}", market) not in taken)


def _price(rng: random.Random, board: Board) -> float:
    """Lognormal around the board's median, redrawn (not clipped) outside the plausible band."""
    mu = math.log(BOARD_MEDIAN_PRICE[board])
    while True:
        price = math.exp(rng.gauss(mu, 0.7))
        if MIN_PRICE <= price <= MAX_PRICE:
            return price
