"""xtquant's records as mdbridge payloads: units, price ticks, times and phases. Pure.

- volume in shares: ``pvolume`` (shares) when present, else ``volume`` (lots) x 100; book
  and bar volumes are lots; amounts are CNY; ``volume``/``amount`` are day totals;
- prices rounded to the instrument's ``PriceTick`` (the feed has binary noise such as
  11.370000000000001); zero-price book levels (an empty side at a limit) are dropped;
- ``time`` is epoch ms, written as Asia/Shanghai ISO time;
- for stocks the trading phase is the 11-23 code in ``openInt`` (``stockStatus`` is legacy).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from schemas import (
    Kind,
    Market,
    SymbolInfo,
    TradingPhase,
    board_of,
    kind_of,
    limit_prices,
    round_to_tick,
)
from schemas.symbols import default_tick
from services.calendar import DAY_MS, SHANGHAI_OFFSET_MS, Calendar
from services.isotime import MinuteIso
from services.kline import (
    DAY_PERIOD,
    PERIOD_MINUTES,
    bar_label_ms,
    session_minute,
    session_minute_of_day,
)

LOT = 100
MINUTE_MS = 60_000
_NUMERIC = (int, float)
_SEQUENCE = (list, tuple)
_OPEN_AUCTION_END_MS = (9 * 60 + 25) * MINUTE_MS
_CLOSING_AUCTION_MS = (14 * 60 + 57) * MINUTE_MS

# 数据字典 / 证券状态, carried in ``openInt`` for stocks.
PHASE_BY_CODE: dict[int, TradingPhase] = {
    11: TradingPhase.PRE_OPEN,  # 开盘前S
    12: TradingPhase.OPENING_AUCTION,  # 集合竞价时段C (refined by the clock below)
    13: TradingPhase.CONTINUOUS,  # 连续交易T
    14: TradingPhase.LUNCH_BREAK,  # 休市B
    15: TradingPhase.CLOSED,  # 闭市E
    16: TradingPhase.VOLATILITY_BREAK,  # 波动性中断V
    17: TradingPhase.HALTED,  # 临时停牌P
    18: TradingPhase.CLOSING_AUCTION,  # 收盘集合竞价U
    19: TradingPhase.INTRADAY_AUCTION,  # 盘中集合竞价M
    20: TradingPhase.SUSPENDED_TO_CLOSE,  # 暂停交易至闭市N
    21: TradingPhase.UNKNOWN,  # 获取字段异常
    22: TradingPhase.AFTER_HOURS_FIXED_PRICE,  # 盘后固定价格行情
    23: TradingPhase.CLOSED,  # 盘后固定价格行情完毕
}
DIRECTION_BY_FLAG = {1: "buy", 2: "sell"}  # tradeFlag: 1 外盘 (buyer aggressed), 2 内盘
CANCEL_FLAG = 3  # 撤单 (SZSE reports cancels among its trades)
XT_PERIOD = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "60m": "1h", "1d": "1d"}


def phase_of(code: object, ts_ms: int, fallback: TradingPhase) -> TradingPhase:
    """The phase an ``openInt`` code means at ``ts_ms``; ``fallback`` for 0, 10 or non-codes.

    Code 12 covers every call auction; the clock tells the 09:15 auction from the 09:25-09:30
    wait (orders in, already matched) and from the closing auction.
    """
    phase = PHASE_BY_CODE.get(int(code)) if isinstance(code, _NUMERIC) else None
    if phase is None:
        return fallback
    if phase is TradingPhase.OPENING_AUCTION:
        day_ms = (ts_ms + SHANGHAI_OFFSET_MS) % DAY_MS
        if day_ms >= _CLOSING_AUCTION_MS:
            return TradingPhase.CLOSING_AUCTION
        if day_ms >= _OPEN_AUCTION_END_MS:
            return TradingPhase.PRE_CONTINUOUS
    return phase


def _number(value: object) -> float:
    """A positive finite number, else 0.0 (missing, zero, NaN, not a number)."""
    if isinstance(value, _NUMERIC) and 0 < value < math.inf:
        return float(value)
    return 0.0


# get_instrument_type's flags, most specific first (an ETF is also a fund).
_KIND_BY_TYPE = (("index", Kind.INDEX), ("etf", Kind.ETF), ("lof", Kind.LOF))


def kind_from_types(symbol: str, types: Iterable[str]) -> Kind:
    """The kind by the terminal's ``get_instrument_type`` flags, else by the code range."""
    flags = set(types)
    for flag, kind in _KIND_BY_TYPE:
        if flag in flags:
            return kind
    return Kind.STOCK if "stock" in flags else kind_of(symbol)


def _date(value: object) -> date | None:
    """An 8-digit date (str or int, as the terminal gives OpenDate/TradingDay); None if not."""
    text = str(value or "")
    try:
        return datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 else None
    except ValueError:
        return None


def listing_day(listed: date | None, today: date | None) -> int | None:
    """Which weekday of its listing ``today`` is (1 = listed today); None for an old listing
    or unknown dates. Weekdays, not trading days: a holiday in the first week counts."""
    if listed is None or today is None or today < listed:
        return None
    span = (today - listed).days + 1
    weekdays = sum(1 for n in range(min(span, 15)) if (listed + timedelta(days=n)).weekday() < 5)
    return weekdays if span < 15 else None


def symbol_info(symbol: str, detail: dict[str, Any], types: Iterable[str] = ()) -> SymbolInfo:
    """A directory entry from ``get_instrument_detail`` (PriceTick, PreClose, UpStopPrice, ...)
    and ``get_instrument_type`` (index, etf, lof, stock). The terminal's own limits win; without
    them the rule of the kind and board (none for an index or a stock in its first days)."""
    code, market = symbol.split(".")
    kind = kind_from_types(symbol, types)
    tick = _number(detail.get("PriceTick")) or default_tick(kind)
    name = str(detail.get("InstrumentName") or code)
    board = board_of(symbol)
    st = kind is Kind.STOCK and "ST" in name.upper()
    prev_close = round_to_tick(_number(detail.get("PreClose")), tick)
    listed = _date(detail.get("OpenDate"))
    up, down = _number(detail.get("UpStopPrice")), _number(detail.get("DownStopPrice"))
    if kind is Kind.INDEX:
        up = down = 0.0  # an index has no limit, whatever the terminal fills in
    elif not up or not down:  # no limits from the terminal: the kind's and board's rule
        day = listing_day(listed, _date(detail.get("TradingDay")))
        rule = limit_prices(prev_close, board, st=st, tick=tick, kind=kind, listing_day=day)
        up, down = rule if prev_close else (0.0, 0.0)
    status = detail.get("InstrumentStatus")
    return SymbolInfo(
        symbol=symbol,
        code=code,
        name=name,
        market=Market(market),
        board=board,
        price_tick=tick,
        prev_close=prev_close,
        limit_up=round_to_tick(up, tick),
        limit_down=round_to_tick(down, tick),
        status="suspended" if isinstance(status, int) and status > 0 else "listed",
        is_st=st,
        kind=kind,
        listed=listed,
    )


@dataclass(frozen=True, slots=True)
class Instrument:
    """A symbol's directory entry and its price grid."""

    info: SymbolInfo
    scale: int  # 1 / price tick

    @classmethod
    def of(cls, info: SymbolInfo) -> Instrument:
        return cls(info, round(1 / info.price_tick))

    def ticks(self, value: object) -> int:
        """A price in whole ticks (0 for a missing or zero price)."""
        if not (isinstance(value, _NUMERIC) and 0 < value < math.inf):
            return 0
        raw = float(value)
        scaled = raw * self.scale
        steps = round(scaled)
        if abs(scaled - steps) < 1e-6:  # on the grid up to binary noise: the usual case
            return steps
        return round(round_to_tick(raw, self.info.price_tick) * self.scale)

    def price(self, value: object) -> float:
        """``round_to_tick`` (the float nearest the decimal price), with a fast path."""
        return self.ticks(value) / self.scale


def shares(record: dict[str, Any]) -> int:
    """Cumulative shares: ``pvolume`` when the feed has it, else lots x 100."""
    pvolume = record.get("pvolume")
    if isinstance(pvolume, _NUMERIC) and pvolume > 0:
        return int(pvolume)
    volume = record.get("volume")
    return int(volume) * LOT if isinstance(volume, _NUMERIC) and volume > 0 else 0


def book_side(inst: Instrument, prices: object, lots: object, depth: int) -> list[list[float]]:
    """[[price, shares], ...] best first, zero-price levels dropped."""
    if not isinstance(prices, _SEQUENCE):
        return []
    volumes = lots if isinstance(lots, _SEQUENCE) else ()
    side: list[list[float]] = []
    for index, raw in enumerate(prices[:depth]):
        price = inst.price(raw)
        if price > 0:
            volume = volumes[index] if index < len(volumes) else 0
            side.append([price, int(volume) * LOT if isinstance(volume, _NUMERIC) else 0])
    return side


class Normalizer:
    """Maps one source's records; holds the instruments and the time formatter."""

    def __init__(self, source: str, calendar: Calendar, *, bar_label: str = "end") -> None:
        self.source = source
        self.calendar = calendar
        self.bar_label = bar_label
        self.instruments: dict[str, Instrument] = {}
        self._iso = MinuteIso()

    def set_directory(self, infos: list[SymbolInfo]) -> None:
        self.instruments = {info.symbol: Instrument.of(info) for info in infos}

    def quote(
        self, symbol: str, raw: dict[str, Any], levels: int = 5
    ) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """(time, quote, depth) from a tick or l2quote record; None for unknown or untimed."""
        inst = self.instruments.get(symbol)
        ts = raw.get("time")
        if inst is None or not isinstance(ts, _NUMERIC) or ts <= 0:
            return None
        ts_ms = int(ts)
        info, scale = inst.info, inst.scale
        iso = self._iso(ts_ms)
        last = inst.ticks(raw.get("lastPrice"))
        prev = inst.ticks(raw.get("lastClose")) or round(info.prev_close * scale)
        bids = book_side(inst, raw.get("bidPrice"), raw.get("bidVol"), levels)
        asks = book_side(inst, raw.get("askPrice"), raw.get("askVol"), levels)
        diff = last - prev if last and prev else 0
        pct = (abs(diff) * 20_000 + prev) // (2 * prev) if prev else 0  # half away from zero
        phase = phase_of(raw.get("openInt"), ts_ms, self.calendar.phase_at_ms(ts_ms))
        quote = {
            "symbol": symbol,
            "timestamp": iso,
            "last_price": last / scale,
            "open": inst.price(raw.get("open")),
            "high": inst.price(raw.get("high")),
            "low": inst.price(raw.get("low")),
            "prev_close": prev / scale,
            "change": diff / scale,
            "change_percent": (pct if diff >= 0 else -pct) / 100,
            "volume": shares(raw),
            "amount": round(_number(raw.get("amount")), 2),
            "bid_price": bids[0][0] if bids else 0.0,
            "ask_price": asks[0][0] if asks else 0.0,
            "bid_volume": int(bids[0][1]) if bids else 0,
            "ask_volume": int(asks[0][1]) if asks else 0,
            "bids": bids,
            "asks": asks,
            "limit_up": info.limit_up,
            "limit_down": info.limit_down,
            "phase": phase.value,
            "source": self.source,
        }
        depth = {
            "symbol": symbol,
            "timestamp": iso,
            "bids": bids,
            "asks": asks,
            "levels": levels,
            "source": self.source,
        }
        return ts_ms, quote, depth

    def bar(
        self, symbol: str, period: str, raw: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """(start ms, KLineData payload without ``closed``) from a K-line record."""
        inst = self.instruments.get(symbol)
        ts = raw.get("time")
        if inst is None or not isinstance(ts, _NUMERIC) or ts <= 0:
            return None
        start_ms = self._bar_start(int(ts), period)
        payload = {
            "symbol": symbol,
            "timestamp": self._iso(bar_label_ms(start_ms, period)),
            "start": self._iso(start_ms),
            "period": period,
            "open": inst.price(raw.get("open")),
            "high": inst.price(raw.get("high")),
            "low": inst.price(raw.get("low")),
            "close": inst.price(raw.get("close")),
            "volume": int(_number(raw.get("volume"))) * LOT,
            "amount": round(_number(raw.get("amount")), 2),
            "closed": False,
            "source": self.source,
        }
        return start_ms, payload

    def _bar_start(self, ts_ms: int, period: str) -> int:
        """Our bar start (on the A-share trading-minute grid) for xtquant's bar time."""
        if period == DAY_PERIOD:
            return ts_ms  # 00:00 Shanghai of the trading day, as ours
        minutes = PERIOD_MINUTES[period]
        if self.bar_label == "end":
            ts_ms -= minutes * MINUTE_MS
        day, day_ms = divmod(ts_ms + SHANGHAI_OFFSET_MS, DAY_MS)
        index = session_minute(day_ms // MINUTE_MS) // minutes * minutes
        return day * DAY_MS + session_minute_of_day(index) * MINUTE_MS - SHANGHAI_OFFSET_MS

    def trade(self, symbol: str, raw: dict[str, Any]) -> dict[str, Any] | None:
        """A TradeData payload from an ``l2transaction`` record; None for cancels."""
        inst = self.instruments.get(symbol)
        ts = raw.get("time")
        flag = raw.get("tradeFlag")
        if inst is None or not isinstance(ts, _NUMERIC) or flag == CANCEL_FLAG:
            return None
        price = inst.price(raw.get("price"))
        volume = int(_number(raw.get("volume")))
        if price <= 0 or volume <= 0:
            return None
        amount = _number(raw.get("amount"))
        # The unit of Level-2 volume is undocumented: the amount tells shares from lots.
        if abs(amount - price * volume * LOT) < abs(amount - price * volume):
            volume *= LOT
        iso = self._iso(int(ts))
        return {
            "symbol": symbol,
            "timestamp": iso,
            "price": price,
            "volume": volume,
            "amount": round(amount, 2) if amount else round(price * volume, 2),
            "direction": DIRECTION_BY_FLAG.get(flag, "neutral")
            if isinstance(flag, int)
            else "neutral",
            "trade_id": f"{iso[:10].replace('-', '')}-{raw.get('tradeIndex', 0)}",
            "derived": False,
            "source": self.source,
        }
