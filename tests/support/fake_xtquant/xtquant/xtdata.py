"""Stand-in ``xtquant.xtdata``: the real signatures and behaviour of what mdbridge calls.

Like the real module: one global client with no locks; every call goes through
``get_client()``, which lazily makes a new client (without the old subscriptions) when the
link dropped; ``watch_xtquant_status`` only takes effect for clients created after it;
``subscribe_*`` return a sequence number > 0, or -1 on failure (they never raise); callbacks
run on another thread and their exceptions are printed, not raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _fake, xtconn

data_dir: str | None = None
enable_hello = True

__client: _fake.Client | None = None
__client_last_spec: tuple[str, int | None] = ("", None)

_SECTOR_STRIP = str.maketrans("", "", '\\/:*?"<>|')


def _server() -> _fake.FakeServer:
    return _fake.SERVER


def connect(
    ip: str = "", port: int | None = None, remember_if_success: bool = True
) -> _fake.Client:
    global __client, __client_last_spec
    _server().record_call("connect")
    if __client is not None:
        if __client.is_connected():
            return __client
        __client.shutdown()
        __client = None
    if not port and ip not in ("", "127.0.0.1", "localhost"):
        raise Exception("远程地址不支持仅输入IP")
    __client = _server().new_client(xtconn.status_callback)
    if remember_if_success:
        __client_last_spec = (ip, port)
    if enable_hello:
        print(f"***** xtdata连接成功 {__client.address} *****")
    return __client


def reconnect(
    ip: str = "", port: int | None = None, remember_if_success: bool = True
) -> _fake.Client:
    global __client
    _server().record_call("reconnect")
    if __client is not None:
        __client.shutdown()
        __client = None
    return connect(ip, port, remember_if_success)


def disconnect() -> None:
    global __client
    _server().record_call("disconnect")
    if __client is not None:
        __client.shutdown()
        __client = None


def get_client() -> _fake.Client:
    global __client
    if __client is None or not __client.is_connected():
        ip, port = __client_last_spec
        __client = connect(ip, port, False)
    return __client


def watch_xtquant_status(callback: Callable[[Any], None] | None) -> None:
    """def callback(info): info = {'address': 'ip:port', 'status': 'connected'|'disconnected'}"""
    _server().record_call("watch_xtquant_status")
    xtconn.status_callback = _fake.wrap_callback(callback) if callback else None


def subscribe_quote(
    stock_code: str,
    period: str = "1d",
    start_time: str = "",
    end_time: str = "",
    count: int = 0,
    callback: Callable[[Any], None] | None = None,
) -> int:
    """Pushes ``{stock_code: [data1, data2, ...]}``: a list per code, even for one item."""
    return subscribe_quote2(stock_code, period, start_time, end_time, count, None, callback)


def subscribe_quote2(
    stock_code: str,
    period: str = "1d",
    start_time: str = "",
    end_time: str = "",
    count: int = 0,
    dividend_type: str | None = None,
    callback: Callable[[Any], None] | None = None,
) -> int:
    _server().record_call("subscribe_quote")
    wrapped = _fake.wrap_callback(callback) if callback else None
    return _server().subscribe(get_client(), [stock_code], period, wrapped)


def subscribe_whole_quote(
    code_list: list[str], callback: Callable[[Any], None] | None = None
) -> int:
    """Pushes ``{stock1: data1, stock2: data2}``: one dict per code; first the current state."""
    _server().record_call("subscribe_whole_quote")
    wrapped = _fake.wrap_callback(callback) if callback else None
    return _server().subscribe(get_client(), code_list, "whole", wrapped)


def unsubscribe_quote(seq: int) -> None:
    _server().record_call("unsubscribe_quote")
    get_client().subscriptions.pop(seq, None)


def run() -> None:
    """Blocks, raising when the link drops (the real one sleeps 3 s per check)."""
    import time

    client = get_client()
    while True:
        time.sleep(3)
        if not client.is_connected():
            raise Exception("行情服务连接断开")


def download_sector_data() -> None:
    """Downloads the sector lists (synchronous); until then a fresh terminal has none."""
    _server().record_call("download_sector_data")
    get_client()
    _server().sectors_downloaded = True


def get_stock_list_in_sector(sector_name: str, real_timetag: int | str = -1) -> list[str]:
    """A sector's members; empty (not an error) before ``download_sector_data``."""
    _server().record_call("get_stock_list_in_sector")
    get_client()
    server = _server()
    if not server.sectors_downloaded:
        return []
    return list(server.sectors.get(sector_name.translate(_SECTOR_STRIP), ()))


def get_instrument_detail(stock_code: str, iscomplete: bool = False) -> dict[str, Any] | None:
    _server().record_call("get_instrument_detail")
    get_client()
    detail = _server().details.get(stock_code)
    return dict(detail) if detail is not None else None


def get_instrument_detail_list(
    stock_list: list[str], iscomplete: bool = False
) -> dict[str, dict[str, Any] | None]:
    """``{stock: get_instrument_detail(stock)}``, None for an unknown code (as the real one)."""
    return {s: get_instrument_detail(s, iscomplete) for s in stock_list}


def get_instrument_type(stock_code: str, variety_list: list[str] | None = None) -> dict[str, bool]:
    """``{type: True}`` for the types the code belongs to (``index``, ``stock``, ``fund``,
    ``etf``, ...); ``{}`` for an unknown code; with ``variety_list``, those types' flags."""
    _server().record_call("get_instrument_type")
    get_client()
    types = _server().types_of(stock_code)
    if not types:
        return {}
    if not variety_list:
        return {k: v for k, v in types.items() if v}
    return {v: types[v] for v in variety_list if v in types}


def get_full_tick(code_list: list[str]) -> dict[str, dict[str, Any]]:
    """The latest tick of every code (or of every instrument of a market code), ticking or not:
    a halted or not yet traded instrument has its resting record (last close, no trades)."""
    _server().record_call("get_full_tick")
    get_client()
    return _server().full_tick(code_list)


def get_holidays() -> list[str]:
    """Holidays (8-digit date strings) through the current year."""
    _server().record_call("get_holidays")
    get_client()
    return [str(day) for day in _server().holidays]


def get_trading_calendar(market: str, start_time: str = "", end_time: str = "") -> list[str]:
    """Trading days ('YYYYMMDD') of ``market`` (SH or SZ only); future days from the holidays."""
    _server().record_call("get_trading_calendar")
    if market not in ("SH", "SZ"):
        raise Exception("暂不支持除SH,SZ以外市场的交易日历")
    get_client()
    return _server().trading_calendar(start_time, end_time)


def download_history_data2(
    stock_list: list[str] | str,
    period: str,
    start_time: str = "",
    end_time: str = "",
    callback: Callable[[Any], None] | None = None,
    incrementally: bool | None = None,
) -> dict[str, Any]:
    """Blocks until the data is in the local store; ``callback`` gets the progress."""
    _server().record_call("download_history_data2")
    if not get_client().is_connected():
        raise Exception("行情服务连接断开")
    codes = [stock_list] if isinstance(stock_list, str) else list(stock_list)
    _server().download(codes, period, callback)
    return {}


def get_market_data_ex(
    field_list: list[str] = [],  # noqa: B006 - xtquant's own signature
    stock_list: list[str] = [],  # noqa: B006
    period: str = "1d",
    start_time: str = "",
    end_time: str = "",
    count: int = -1,
    dividend_type: str = "none",
    fill_data: bool = True,
) -> dict[str, Any]:
    """{code: DataFrame} of the local store's bars (index: ``YYYYMMDD`` for daily bars,
    ``YYYYMMDDhhmmss`` for the others)."""
    import pandas as pd  # type: ignore[import-untyped]  # no stubs; xtquant needs pandas too

    _server().record_call("get_market_data_ex")
    get_client()
    if dividend_type != "none":
        raise NotImplementedError("the stand-in stores unadjusted bars only")
    start = _timetag_ms(start_time, 0)
    end = _timetag_ms(end_time, 2**62)
    result: dict[str, Any] = {}
    for code in stock_list:
        rows = [
            r for r in _server().local.get(period, {}).get(code, []) if start <= r["time"] <= end
        ]
        if count >= 0:
            rows = rows[-count:] if count else []
        frame = pd.DataFrame(rows, columns=list(field_list) or None)
        frame.index = [_time_text(r["time"], period) for r in rows]
        result[code] = frame
    return result


def _timetag_ms(text: str, default: int) -> int:
    """``YYYYMMDD`` or ``YYYYMMDDhhmmss`` (Shanghai) as epoch ms; empty: ``default``."""
    from datetime import datetime, timedelta, timezone

    if not text:
        return default
    shanghai = timezone(timedelta(hours=8))
    layout = "%Y%m%d%H%M%S" if len(text) > 8 else "%Y%m%d"
    return int(datetime.strptime(text, layout).replace(tzinfo=shanghai).timestamp() * 1000)


def _time_text(ms: int, period: str) -> str:
    from datetime import datetime, timedelta, timezone

    layout = "%Y%m%d" if period == "1d" else "%Y%m%d%H%M%S"
    return datetime.fromtimestamp(ms / 1000, timezone(timedelta(hours=8))).strftime(layout)
