"""The stand-in's side of MiniQMT: instruments, subscriptions, pushes and faults.

Tests drive it through :data:`SERVER`: push records (they reach the subscribers' callbacks on
a dispatcher thread, as xtquant's own threads do), drop the link (subscriptions die with the
client), make the feed silent, or let it generate a market on a wall-clock grid (the same
records in every process for the same instant, as two terminals on one exchange feed see).

Configured from the environment for subprocesses: ``FAKE_XTQUANT_AUTO_MS`` (grid interval;
auto-generation starts with the first subscription), ``FAKE_XTQUANT_LEVEL2`` ("0": no rights).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import math
import os
import queue
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
Callback = Callable[[Any], None]
ADDRESS = "127.0.0.1:58610"
MARKETS = ("SH", "SZ", "BJ")
SHANGHAI_MS = 8 * 3_600_000

# symbol, name, previous close, price tick, limit percent (0: no limits: an index, or a new
# listing in its first days)
UNIVERSE: tuple[tuple[str, str, float, float, float], ...] = (
    ("600000.SH", "浦发银行", 10.20, 0.01, 0.10),
    ("000001.SZ", "平安银行", 11.38, 0.01, 0.10),
    ("600519.SH", "贵州茅台", 1500.00, 0.01, 0.10),
    ("300750.SZ", "宁德时代", 250.00, 0.01, 0.20),
    ("688981.SH", "中芯国际", 90.00, 0.01, 0.20),
    ("430047.BJ", "诺思兰德", 12.50, 0.01, 0.30),
    ("600123.SH", "*ST兰花", 4.00, 0.01, 0.05),
    ("510300.SH", "沪深300ETF", 3.912, 0.001, 0.10),
    ("000001.SH", "上证指数", 3300.00, 0.01, 0.0),
    ("399006.SZ", "创业板指", 2100.00, 0.01, 0.0),
    ("159915.SZ", "创业板ETF", 2.105, 0.001, 0.10),
    ("161725.SZ", "招商中证白酒指数LOF", 1.012, 0.001, 0.10),
    ("301999.SZ", "新股科技", 30.00, 0.01, 0.0),  # listed today: no limits for 5 days
)
# get_instrument_type's answer per instrument (the real one has many more kinds)
TYPES: dict[str, dict[str, bool]] = {
    "000001.SH": {"index": True},
    "399006.SZ": {"index": True},
    "510300.SH": {"fund": True, "etf": True},
    "159915.SZ": {"fund": True, "etf": True},
    "161725.SZ": {"fund": True, "lof": True},
}
STOCK_TYPE = {"stock": True}
HOLIDAYS = (  # 8-digit ints, as the terminal's client returns them
    20260101, 20260102, 20260216, 20260217, 20260218, 20260219, 20260220, 20260223, 20260406,
    20260501, 20260504, 20260505, 20260619, 20261001, 20261002, 20261005, 20261006, 20261007,
)  # fmt: skip
OPEN_DATES = {"301999.SZ": "20261120"}  # IPO days other than the default
SECTORS: dict[str, tuple[str, ...]] = {
    "沪深京A股": (
        "600000.SH",
        "000001.SZ",
        "600519.SH",
        "300750.SZ",
        "688981.SH",
        "430047.BJ",
        "600123.SH",
    ),
    "上证A股": ("600000.SH", "600519.SH", "688981.SH", "600123.SH"),
    "深证A股": ("000001.SZ", "300750.SZ"),
    "京市A股": ("430047.BJ",),
    "沪深ETF": ("510300.SH", "159915.SZ"),
    "沪深基金": ("510300.SH", "159915.SZ", "161725.SZ"),
    "沪深指数": ("000001.SH", "399006.SZ"),
    "创业板": ("300750.SZ", "301999.SZ"),
}


def price(ticks: int, tick: float = 0.01) -> float:
    """A price as the terminal sends it, binary noise included: 1137 x 0.01 = 11.370000000000001."""
    return ticks * tick


def _limit(prev_close: float, pct: float, tick: float, sign: int) -> float:
    steps = math.floor(prev_close * (1 + sign * pct) / tick + 0.5)
    return steps * tick


def instrument_detail(symbol: str, name: str, prev: float, tick: float, pct: float) -> Record:
    """``get_instrument_detail(code)``: the real keys, in the real order, dates as strings."""
    code, market = symbol.split(".")
    return {
        "ExchangeID": market,
        "InstrumentID": code,
        "InstrumentName": name,
        "ProductID": "",
        "ProductName": "",
        "ProductType": 0,
        "ExchangeCode": code,
        "UniCode": code,
        "CreateDate": OPEN_DATES.get(symbol, "19991110"),
        "OpenDate": OPEN_DATES.get(symbol, "19991110"),
        "ExpireDate": "99999999",
        "TradingDay": "20261120",
        "PreClose": prev,
        "SettlementPrice": prev,
        "UpStopPrice": _limit(prev, pct, tick, 1) if pct else 0.0,
        "DownStopPrice": _limit(prev, pct, tick, -1) if pct else 0.0,
        "FloatVolume": 1.0e9,
        "TotalVolume": 1.2e9,
        "LongMarginRatio": 0.0,
        "ShortMarginRatio": 0.0,
        "PriceTick": tick,
        "VolumeMultiple": 1,
        "MainContract": 0,
        "LastVolume": 0,
        "InstrumentStatus": 0,
        "IsTrading": True,
        "IsRecent": False,
        "ProductTradeQuota": 0,
        "ContractTradeQuota": 0,
        "ProductOpenInterestQuota": 0,
        "ContractOpenInterestQuota": 0,
    }


def tick_record(
    time_ms: int,
    last: float,
    *,
    open_: float,
    high: float,
    low: float,
    last_close: float,
    lots: int,
    amount: float,
    pvolume: int | None = None,
    open_int: int = 13,
    bids: Iterable[tuple[float, int]] = (),
    asks: Iterable[tuple[float, int]] = (),
    levels: int = 5,
    transactions: int = 0,
) -> Record:
    """A tick as ``subscribe_whole_quote`` pushes it: ``volume`` in lots, ``pvolume`` in shares,
    the phase in ``openInt`` (``stockStatus`` is a legacy 3), fixed-length book lists padded
    with zero-price levels."""
    bid_list, ask_list = list(bids)[:levels], list(asks)[:levels]
    pad = [(0.0, 0)] * levels
    bid_list += pad[len(bid_list) :]
    ask_list += pad[len(ask_list) :]
    return {
        "time": time_ms,
        "lastPrice": last,
        "open": open_,
        "high": high,
        "low": low,
        "lastClose": last_close,
        "amount": amount,
        "volume": lots,
        "pvolume": lots * 100 if pvolume is None else pvolume,
        "stockStatus": 3,
        "openInt": open_int,
        "transactionNum": transactions,
        "lastSettlementPrice": last_close,
        "settlementPrice": 0.0,
        "pe": 0.0,
        "askPrice": [p for p, _ in ask_list],
        "bidPrice": [p for p, _ in bid_list],
        "askVol": [v for _, v in ask_list],
        "bidVol": [v for _, v in bid_list],
        "volRatio": 0.0,
        "speed1Min": 0.0,
        "speed5Min": 0.0,
    }


L2QUOTE_KEYS = (
    *("time", "lastPrice", "open", "high", "low", "amount", "volume", "pvolume", "openInt"),
    *("stockStatus", "transactionNum", "lastClose", "lastSettlementPrice", "settlementPrice"),
    *("pe", "askPrice", "bidPrice", "askVol", "bidVol"),
)


def l2quote_record(tick: Record) -> Record:
    """The ``l2quote`` field list (10 levels, no volRatio/speed fields)."""
    return {key: tick[key] for key in L2QUOTE_KEYS}


def bar_record(
    time_ms: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    lots: int,
    amount: float,
    pre_close: float,
    *,
    open_interest: int = 13,
    suspend: int = 0,
) -> Record:
    """A K-line as ``subscribe_quote(period='1m')`` pushes it, ``settelementPrice`` and all."""
    return {
        "time": time_ms,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": lots,
        "amount": amount,
        "settelementPrice": 0.0,
        "openInterest": open_interest,
        "preClose": pre_close,
        "suspendFlag": suspend,
    }


def transaction_record(
    time_ms: int, price_: float, volume: int, amount: float, index: int, flag: int
) -> Record:
    """An ``l2transaction`` record: side in ``tradeFlag`` (1 外盘, 2 内盘, 3 撤单)."""
    return {
        "time": time_ms,
        "price": price_,
        "volume": volume,
        "amount": amount,
        "tradeIndex": index,
        "buyNo": 7_000_000 + index,
        "sellNo": 8_000_000 + index,
        "tradeType": 0,
        "tradeFlag": flag,
    }


def wrap_callback(callback: Callback) -> Callback:
    """Like xtdata's subscribe_callback_wrapper: an exception is printed, never raised."""

    def wrapped(datas: Any) -> None:
        try:
            callback(datas)
        except Exception:
            print("subscribe callback error:", callback)
            traceback.print_exc()

    return wrapped


@dataclass(eq=False)
class Subscription:
    seq: int
    client: Client
    codes: frozenset[str]  # symbols, or market codes for a whole-market subscription
    period: str  # "whole" for subscribe_whole_quote
    callback: Callback | None
    dead: bool = False  # a silent feed: still registered, never pushed again

    def covers(self, symbol: str) -> bool:
        return symbol in self.codes or symbol.rpartition(".")[2] in self.codes


@dataclass(eq=False)
class Client:
    address: str
    status_callback: Callback | None
    connected: bool = True
    subscriptions: dict[int, Subscription] = field(default_factory=dict)

    def is_connected(self) -> bool:
        return self.connected

    def shutdown(self) -> None:
        self.connected = False
        self.subscriptions.clear()


class FakeServer:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.details: dict[str, Record] = {u[0]: instrument_detail(*u) for u in UNIVERSE}
        self.sectors: dict[str, tuple[str, ...]] = dict(SECTORS)
        self.sectors_downloaded = False  # a fresh terminal: download_sector_data() first
        self.holidays: tuple[int, ...] = HOLIDAYS
        self.down = False  # MiniQMT not reachable: connect() raises
        self.level2 = os.environ.get("FAKE_XTQUANT_LEVEL2", "1") != "0"
        self.client: Client | None = None
        self.latest: dict[str, Record] = {}
        self.calls: list[tuple[str, int]] = []  # (function, calling thread)
        self.callback_threads: set[int] = set()
        self._seqs = itertools.count(1)
        self._queue: queue.Queue[tuple[Callback, Any] | threading.Event] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self.auto_ms = int(os.environ.get("FAKE_XTQUANT_AUTO_MS", "0"))
        self._auto: threading.Thread | None = None
        # The terminal's server side: bar records (bar_record fields) per xtquant period
        # ("1d", "1m", "1h", ...) and code, and what download_history_data2 has copied to the
        # local store that get_market_data_ex reads.
        self.history: dict[str, dict[str, list[Record]]] = {}
        self.local: dict[str, dict[str, list[Record]]] = {}

    # -- called by xtdata ------------------------------------------------------------------

    def record_call(self, name: str) -> None:
        self.calls.append((name, threading.get_ident()))

    def new_client(self, status_callback: Callback | None) -> Client:
        with self.lock:
            if self.down:
                raise Exception("无法连接xtquant服务，请检查QMT-投研版或QMT-极简版是否开启")
            self.client = Client(ADDRESS, status_callback)
        if status_callback is not None:
            self._dispatch(status_callback, {"address": ADDRESS, "status": "connected"})
        return self.client

    def subscribe(
        self, client: Client, codes: Iterable[str], period: str, callback: Callback | None
    ) -> int:
        codes = frozenset(codes)
        known = all(c in self.details or c in MARKETS for c in codes)
        if not client.connected or not known or not codes:
            return -1
        sub = Subscription(next(self._seqs), client, codes, period, callback)
        with self.lock:
            client.subscriptions[sub.seq] = sub
            latest = {s: r for s, r in self.latest.items() if sub.covers(s)}
        if period == "whole" and latest and callback is not None:
            self._dispatch(callback, latest)  # 订阅后会首先返回当前最新的全推数据
        if self.auto_ms and self._auto is None:
            self._auto = threading.Thread(
                target=self._generate, name="fake-xtquant-auto", daemon=True
            )
            self._auto.start()
        return sub.seq

    def types_of(self, symbol: str) -> dict[str, bool]:
        if symbol not in self.details:
            return {}
        return dict(TYPES.get(symbol, STOCK_TYPE))

    def full_tick(self, codes: Iterable[str]) -> dict[str, Record]:
        """The latest record per covered instrument; a resting one for those never ticked."""
        wanted = set(codes)
        with self.lock:
            out = {}
            for symbol, detail in self.details.items():
                if symbol in wanted or symbol.rpartition(".")[2] in wanted:
                    latest = self.latest.get(symbol)
                    out[symbol] = dict(latest) if latest else resting_tick(detail)
            return out

    def trading_calendar(self, start: str, end: str) -> list[str]:
        """Weekdays that are not holidays, from ``start`` (default 20260101) to ``end`` (default
        the last holiday's year end); past the holidays' year: the real one's exception."""
        last_year = max(self.holidays) // 10000
        first = datetime.date(2026, 1, 1) if not start else _date(start)
        last = datetime.date(last_year, 12, 31) if not end else _date(end)
        if last.year > last_year:
            raise Exception(f"end_time({end}) 超出现有节假日数据({last_year}1231)")
        closed = set(self.holidays)
        days = []
        day = first
        while day <= last:
            if day.weekday() < 5 and int(day.strftime("%Y%m%d")) not in closed:
                days.append(day.strftime("%Y%m%d"))
            day += datetime.timedelta(days=1)
        return days

    # -- test controls ---------------------------------------------------------------------

    def live(self) -> list[Subscription]:
        client = self.client
        if client is None or not client.connected:
            return []
        with self.lock:
            return [s for s in client.subscriptions.values() if not s.dead]

    def push_ticks(self, ticks: dict[str, Record], *, wait: bool = True) -> None:
        """New ticks: a dict per code to whole-market subscribers, a list per code otherwise."""
        with self.lock:
            self.latest.update(ticks)
        for sub in self.live():
            if sub.callback is None:
                continue
            if sub.period == "whole":
                mine = {s: r for s, r in ticks.items() if sub.covers(s)}
                if mine:
                    self._dispatch(sub.callback, mine)
            elif sub.period == "tick":
                mine_lists = {s: [r] for s, r in ticks.items() if sub.covers(s)}
                if mine_lists:
                    self._dispatch(sub.callback, mine_lists)
        if wait:
            self.drain()

    def push_records(
        self, period: str, records: dict[str, list[Record]], *, wait: bool = True
    ) -> None:
        """Bars, l2quote or l2transaction lists to ``subscribe_quote(period=...)`` subscribers."""
        if period.startswith("l2") and not self.level2:
            return  # no Level-2 rights: subscribed, but nothing ever comes
        for sub in self.live():
            if sub.period == period and sub.callback is not None:
                mine = {s: r for s, r in records.items() if sub.covers(s)}
                if mine:
                    self._dispatch(sub.callback, mine)
        if wait:
            self.drain()

    def drop_link(self, *, down: bool = True) -> None:
        """The link to MiniQMT breaks: the client and its subscriptions are gone."""
        with self.lock:
            client, self.client = self.client, None
            self.down = down
        if client is not None:
            client.shutdown()
            if client.status_callback is not None:
                self._dispatch(
                    client.status_callback, {"address": ADDRESS, "status": "disconnected"}
                )

    def restore(self) -> None:
        self.down = False

    def go_silent(self) -> None:
        """Every current subscription stops receiving (new ones work): a stuck feed."""
        for sub in self.live():
            sub.dead = True

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("fake xtquant: condition not met")
            time.sleep(0.01)

    def drain(self) -> None:
        """Wait until every queued callback has run."""
        done = threading.Event()
        self._queue.put(done)
        self._ensure_dispatcher()
        done.wait(10)

    def reset(self) -> None:
        """A fresh terminal for the next test in this process."""
        self.drop_link(down=False)
        self.drain()
        with self.lock:
            self.latest.clear()
            self.calls.clear()
            self.callback_threads.clear()
            self.level2 = True
            self.details = {u[0]: instrument_detail(*u) for u in UNIVERSE}
            self.sectors = dict(SECTORS)
            self.sectors_downloaded = False
            self.holidays = HOLIDAYS
            self.history.clear()
            self.local.clear()

    # -- history ---------------------------------------------------------------------------

    def download(self, codes: list[str], period: str, progress: Callback | None) -> None:
        """Copy the server's ``period`` bars of ``codes`` to the local store, one by one."""
        for done, code in enumerate(codes, 1):
            with self.lock:
                records = self.history.get(period, {}).get(code, [])
                self.local.setdefault(period, {})[code] = [dict(r) for r in records]
            if progress is not None:
                progress({"finished": done, "total": len(codes), "stockcode": code, "message": ""})

    # -- internals -------------------------------------------------------------------------

    def _dispatch(self, callback: Callback, datas: Any) -> None:
        self._queue.put((callback, datas))
        self._ensure_dispatcher()

    def _ensure_dispatcher(self) -> None:
        with self.lock:
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(
                    target=self._run_dispatcher, name="fake-xtquant-dispatch", daemon=True
                )
                self._dispatcher.start()

    def _run_dispatcher(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            callback, datas = item
            self.callback_threads.add(threading.get_ident())
            callback(datas)

    def _generate(self) -> None:
        """Ticks for every instrument on the ``auto_ms`` wall-clock grid, the same per instant."""
        interval = self.auto_ms
        while True:
            now_ms = time.time() * 1000
            k = int(now_ms // interval) + 1
            time.sleep(max(0.0, (k * interval - now_ms) / 1000))
            if self.live():
                ticks = {
                    s: auto_tick(s, d, k * interval, interval) for s, d in self.details.items()
                }
                self.push_ticks(ticks, wait=False)


def _date(text: str) -> datetime.date:
    return datetime.datetime.strptime(text, "%Y%m%d").date()


def resting_tick(detail: Record) -> Record:
    """``get_full_tick`` for an instrument without a tick this session: a suspended one has
    the exchange's 09:15 snapshot of its trading day (last close as last price, no volume, an
    empty book, ``openInt`` 17 停牌); any other still holds the last session's final snapshot
    (the weekday before, 15:00, ``openInt`` 15 闭市)."""
    prev = float(detail["PreClose"])
    day = _date(str(detail["TradingDay"]))
    if detail.get("InstrumentStatus"):
        at, open_int = datetime.datetime.combine(day, datetime.time(9, 15)), 17
    else:
        before = day - datetime.timedelta(days=3 if day.weekday() == 0 else 1)
        at, open_int = datetime.datetime.combine(before, datetime.time(15, 0)), 15
    time_ms = int((at - datetime.datetime(1970, 1, 1)).total_seconds() * 1000) - SHANGHAI_MS
    return tick_record(
        time_ms, prev, open_=0.0, high=0.0, low=0.0, last_close=prev, lots=0, amount=0.0,
        pvolume=0, open_int=open_int,
    )  # fmt: skip


def auto_tick(symbol: str, detail: Record, time_ms: int, interval_ms: int) -> Record:
    """A tick that depends only on (symbol, instant): identical in every process."""
    tick = float(detail["PriceTick"])
    prev = round(float(detail["PreClose"]) / tick)
    salt = zlib.crc32(symbol.encode()) % 1000
    n = (time_ms + 8 * 3_600_000) % 86_400_000 // interval_ms  # steps since Shanghai midnight
    last = prev + int(prev * 0.02 * math.sin(n / 37 + salt))
    lots = n * (1 + salt % 5)
    bids = [(price(last - i, tick), 10 + i) for i in range(5)]
    asks = [(price(last + 1 + i, tick), 12 + i) for i in range(5)]
    return tick_record(
        time_ms,
        price(last, tick),
        open_=price(prev, tick),
        high=price(max(prev, last), tick),
        low=price(min(prev, last), tick),
        last_close=price(prev, tick),
        lots=lots,
        amount=round(lots * 100 * last * tick, 2),
        bids=bids,
        asks=asks,
        transactions=n,
    )


SERVER = FakeServer()


@contextlib.contextmanager
def fresh_server() -> Any:
    """Reset before and after a test."""
    SERVER.reset()
    try:
        yield SERVER
    finally:
        SERVER.reset()
