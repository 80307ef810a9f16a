"""The REST API under ``/v1``: the WebSocket's data, one request at a time.

Latest values come from the hub (its cache for subjects clients follow, else a JetStream direct
get), so a REST quote and the WebSocket message with the same ``seq`` carry the same bytes.
History comes from the streams by direct gets (bridge/recovery/series.py). Items splice the stored
payload into the response text unparsed, as the WebSocket frames do.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from nats.js.errors import NotFoundError
from starlette.responses import Response

from bridge.errors import RequestError
from bridge.recovery.bars import Bar, BarQuery, BarReader, BarSeries
from bridge.recovery.series import TRADE_WINDOW_MS, Series, Span, tail
from bridge.rest.kit import Call, Endpoint, cacheable, etag_of, uncached
from bridge.rest.marketstatus import holidays_of, market_status
from bridge.rest.problems import problem
from schemas import STREAM_BY_TYPE, DataType, ErrorCode, data_subject, is_symbol
from schemas.history import ADJUSTMENT, history_stream
from schemas.market import SymbolInfo
from schemas.messages import MAX_SYMBOLS_PER_REQUEST
from schemas.rest import (
    MAX_SEARCH_LIMIT,
    DepthSnapshot,
    KLineQuery,
    KLineSeries,
    MarketStatus,
    QuoteList,
    QuoteSnapshot,
    QuotesQuery,
    SymbolList,
    SymbolSearchQuery,
    TradeSeries,
    TradesQuery,
)
from schemas.timefmt import SHANGHAI, epoch_ms_to_iso


def _item(subject: str, seq: int, broker_ms: int, payload: str, extra: dict[str, str]) -> str:
    meta = orjson.dumps({"subject": subject, "seq": seq, "broker_ms": broker_ms, **extra})
    return '{"data":' + payload + ',"metadata":' + meta.decode() + "}"


def _check_known(call: Call, symbol: str) -> str:
    """The listed symbol ``symbol`` names (an alias such as ``sh600000`` read as it)."""
    directory = call.runtime.directory
    canonical = directory.resolve(symbol)
    if canonical is not None and is_symbol(canonical):
        return canonical
    message, suggestions = directory.unknown(symbol[:40])
    raise RequestError(ErrorCode.UNKNOWN_SYMBOL, message, suggestions=suggestions)


def _known_symbol(call: Call) -> str:
    return _check_known(call, call.request.path_params["symbol"])


def _readable_symbol(call: Call, data_type: DataType) -> str:
    """The path's symbol, if it exists and the caller's token covers it (else 404 / 403)."""
    symbol = _known_symbol(call)
    call.principal.check_subscription(data_type, symbol)
    return symbol


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    try:
        return int(value.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        raise RequestError(ErrorCode.BAD_REQUEST, f"time out of range: {value}") from None


# -- latest values ---------------------------------------------------------------------------


async def _snapshot(call: Call, data_type: DataType) -> Response:
    symbol = _readable_symbol(call, data_type)
    hub = call.runtime.hub
    snap = await hub.latest(data_type, data_subject(data_type, symbol))
    if snap is None:
        raise RequestError(ErrorCode.NOT_FOUND, f"no {data_type.value} published for {symbol} yet")
    subject, seq, broker_ms, payload = snap
    stream, epoch = STREAM_BY_TYPE[data_type], hub.epoch_for(data_type)
    body = _item(subject, seq, broker_ms, payload, {"stream": stream, "epoch": epoch})
    return cacheable(
        call.request,
        body.encode(),
        max_age=call.runtime.settings.rest_max_age_s,
        etag=etag_of(stream, epoch, seq),
        headers={"X-Stream-Seq": str(seq), "X-Stream-Epoch": epoch},
    )


async def get_quote(call: Call) -> Response:
    return await _snapshot(call, DataType.QUOTE)


async def get_depth(call: Call) -> Response:
    return await _snapshot(call, DataType.DEPTH)


async def get_quotes(call: Call) -> Response:
    query: QuotesQuery = call.params
    symbols = list(dict.fromkeys(s.strip() for s in query.symbols.split(",") if s.strip()))
    if len(symbols) > MAX_SYMBOLS_PER_REQUEST:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"symbols: at most {MAX_SYMBOLS_PER_REQUEST} per request",
            limit=("max_symbols_per_request", MAX_SYMBOLS_PER_REQUEST),
        )
    hub = call.runtime.hub
    errors: list[dict[str, object]] = []
    wanted: dict[str, str] = {}  # subject → symbol
    for symbol in symbols:
        try:
            symbol = _check_known(call, symbol)
            call.principal.check_subscription(DataType.QUOTE, symbol)
        except RequestError as exc:
            errors.append(
                {"symbol": symbol[:40], "code": exc.code, "detail": exc.message}
                | ({"suggestions": exc.suggestions} if exc.suggestions is not None else {})
            )
            continue
        wanted[data_subject(DataType.QUOTE, symbol)] = symbol
    found = {snap.subject: snap for snap in await hub.latest_many(DataType.QUOTE, list(wanted))}
    items: list[str] = []
    for subject, symbol in wanted.items():
        snap = found.get(subject)
        if snap is None:
            errors.append(
                {"symbol": symbol, "code": ErrorCode.NOT_FOUND, "detail": "no quote published yet"}
            )
        else:
            items.append(_item(*snap, {}))
    meta = {"stream": STREAM_BY_TYPE[DataType.QUOTE], "epoch": hub.epoch_for(DataType.QUOTE)}
    body = (
        '{"items":[' + ",".join(items) + '],"errors":' + orjson.dumps(errors).decode()
        + ',"metadata":' + orjson.dumps(meta).decode() + "}"
    )  # fmt: skip
    return cacheable(call.request, body.encode(), max_age=call.runtime.settings.rest_max_age_s)


# -- history -----------------------------------------------------------------------------------


async def _series(call: Call, data_type: DataType, subject: str, series: Series) -> Response:
    meta = {
        "stream": STREAM_BY_TYPE[data_type],
        "epoch": call.runtime.hub.epoch_for(data_type),
        "subject": subject,
        "scanned": series.scanned,
        "truncated": series.truncated,
    }
    items = ",".join(_item(s, seq, ms, data.decode(), {}) for s, seq, ms, data in series.items)
    body = '{"items":[' + items + '],"metadata":' + orjson.dumps(meta).decode() + "}"
    return cacheable(call.request, body.encode(), max_age=call.runtime.settings.rest_max_age_s)


async def _span(call: Call, data_type: DataType, subject: str) -> Span:
    stream = STREAM_BY_TYPE[data_type]
    info = await call.runtime.js.stream_info(stream)
    return Span(stream, subject, info.state.first_seq, info.state.last_seq)


def _bar_item(bar: Bar) -> str:
    subject, seq, broker_ms, data = bar.stored
    return _item(subject, seq, broker_ms, data.decode(), {"stream": bar.stream})


async def _bounds(call: Call, stream: str) -> tuple[int, int]:
    try:
        info = await call.runtime.js.stream_info(stream)
    except NotFoundError:  # no adapter has provisioned the history streams yet
        return 1, 0
    return info.state.first_seq, info.state.last_seq


async def get_klines(call: Call) -> Response:
    symbol = _readable_symbol(call, DataType.KLINE)
    query: KLineQuery = call.params
    start, end = _ms(query.start), _ms(query.end)
    bars = BarSeries()
    if start is None or end is None or start <= end:
        bar_query = BarQuery(
            symbol, query.period, start, end, query.limit,
            call.runtime.settings.rest_history_max_scan,
        )  # fmt: skip
        async with call.rest.history_slots:
            reader = BarReader(call.rest.reader, lambda stream: _bounds(call, stream))
            bars = await reader.series(bar_query)
    full, forward = len(bars.bars) == query.limit, start is not None
    meta: dict[str, object] = {
        "stream": STREAM_BY_TYPE[DataType.KLINE],
        "epoch": call.runtime.hub.epoch_for(DataType.KLINE),
        "subject": data_subject(DataType.KLINE, symbol, query.period),
        "history_stream": history_stream(query.period),
        "adjustment": ADJUSTMENT,
        "seq": bars.upto,
        "scanned": bars.scanned,
        "truncated": bars.truncated,
        "next_start": epoch_ms_to_iso(bars.bars[-1].ts_ms + 1) if full and forward else None,
        "prev_end": epoch_ms_to_iso(bars.bars[0].ts_ms - 1) if full and not forward else None,
    }
    items = ",".join(_bar_item(bar) for bar in bars.bars)
    body = '{"items":[' + items + '],"metadata":' + orjson.dumps(meta).decode() + "}"
    return cacheable(call.request, body.encode(), max_age=call.runtime.settings.rest_max_age_s)


async def get_trades(call: Call) -> Response:
    symbol = _readable_symbol(call, DataType.TRADE)
    query: TradesQuery = call.params
    subject = data_subject(DataType.TRADE, symbol)
    async with call.rest.history_slots:
        span = await _span(call, DataType.TRADE, subject)
        series = await tail(
            call.rest.reader, span, end_ms=None, limit=query.limit, collapse=False,
            window_ms=TRADE_WINDOW_MS, budget=call.runtime.settings.rest_history_max_scan,
        )  # fmt: skip
    return await _series(call, DataType.TRADE, subject, series)


# -- directory and status ------------------------------------------------------------------


def _symbols_body(infos: list[SymbolInfo], total: int) -> bytes:
    return orjson.dumps({"items": [i.model_dump(mode="json") for i in infos], "total": total})


async def get_symbols(call: Call) -> Response:
    query: SymbolSearchQuery = call.params
    directory = call.runtime.directory
    if query.q is not None and query.q.strip():
        client = call.request.client
        wait_s = call.rest.searches.retry_after_s(client.host if client else "unknown")
        if wait_s is not None:
            rate = call.runtime.settings.rest_search_per_s
            return problem(
                call.request,
                ErrorCode.RATE_LIMITED,
                f"more than {rate} symbol searches/s from this address: retry later",
                limit=("rest_search_per_s", rate),
                headers={"Retry-After": str(wait_s)},
            )
        found = [directory.get(s) for s in directory.suggest(query.q, MAX_SEARCH_LIMIT)]
    else:
        found = [directory.get(s) for s in sorted(directory.symbols())]
    infos = [
        i for i in found if i is not None and (query.market is None or i.market == query.market)
    ]
    page = infos[query.offset : query.offset + query.limit]
    return cacheable(
        call.request,
        _symbols_body(page, len(infos)),
        max_age=call.runtime.settings.rest_directory_max_age_s,
    )


async def get_symbol(call: Call) -> Response:
    info = call.runtime.directory.get(_known_symbol(call))
    if info is None:  # removed between the check and now
        raise RequestError(ErrorCode.UNKNOWN_SYMBOL, "unknown symbol", suggestions=[])
    return cacheable(
        call.request,
        info.model_dump_json().encode(),
        max_age=call.runtime.settings.rest_directory_max_age_s,
    )


async def get_market_status(call: Call) -> Response:
    runtime = call.runtime
    today = datetime.now(SHANGHAI).date()
    body = market_status(
        call.request.app.state.observability.status,
        nats_connected=runtime.nc.is_connected,
        epochs=runtime.hub.epochs,
        today=today,
        holidays=await holidays_of(runtime.js, today.year),
    )
    return uncached(orjson.dumps(body))


_SYMBOL_ERRORS = (ErrorCode.UNKNOWN_SYMBOL,)  # 401 and 403 go on every operation

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/v1/symbols", "searchSymbols", "Search or list symbols",
        "By alias, code, name, pinyin (initials or full) or a one-typo code (the engine behind "
        "UNKNOWN_SYMBOL suggestions); without `q`, the directory in symbol order. Searches "
        "(`q`) are limited per client IP (`rest_search_per_s`): over it, 429 RATE_LIMITED.",
        "symbols", get_symbols, SymbolList, SymbolSearchQuery,
        (ErrorCode.BAD_REQUEST, ErrorCode.RATE_LIMITED),
    ),
    Endpoint(
        "/v1/symbols/{symbol}", "getSymbol", "One symbol's directory entry",
        "Code, name, market, board, price tick and today's price limits.",
        "symbols", get_symbol, SymbolInfo, None, _SYMBOL_ERRORS,
    ),
    Endpoint(
        "/v1/quotes", "getQuotes", "Latest quotes of several symbols",
        "One item per known symbol with a quote; the others are listed in `errors`.",
        "quotes", get_quotes, QuoteList, QuotesQuery, (ErrorCode.BAD_REQUEST,),
    ),
    Endpoint(
        "/v1/quotes/{symbol}", "getQuote", "Latest quote of a symbol",
        "The same data as the WebSocket `market_data` message with the same `seq`.",
        "quotes", get_quote, QuoteSnapshot, None, (*_SYMBOL_ERRORS, ErrorCode.NOT_FOUND),
        seq_headers=True,
    ),
    Endpoint(
        "/v1/depth/{symbol}", "getDepth", "Latest order book of a symbol",
        "The same data as the WebSocket `depth_data` message with the same `seq`.",
        "quotes", get_depth, DepthSnapshot, None, (*_SYMBOL_ERRORS, ErrorCode.NOT_FOUND),
        seq_headers=True,
    ),
    Endpoint(
        "/v1/klines/{symbol}", "getKLines", "K-line history",
        "Closed bars from the history stream (MD_BAR_<period>: years of daily bars, weeks of "
        "minute bars) merged with the K-line stream's last day: stored bars from history, the "
        "bars after the newest stored one (the forming bar) from MD_KLINE, in their latest "
        "version (`metadata.stream` of an item tells whose `seq` it carries). With `start`: "
        "the first `limit` bars from it (next page: "
        "`metadata.next_start`); otherwise the latest `limit` bars up to `end` (previous page: "
        "`metadata.prev_end`). Prices are unadjusted (`metadata.adjustment`). Subscribe with "
        "`resume_from: {seq: metadata.seq, epoch: metadata.epoch}` to continue live exactly "
        "after this answer.",
        "history", get_klines, KLineSeries, KLineQuery, (ErrorCode.BAD_REQUEST, *_SYMBOL_ERRORS),
    ),
    Endpoint(
        "/v1/trades/{symbol}", "getTrades", "Latest trades",
        "The newest `limit` trades from the trade stream's history, oldest first.",
        "history", get_trades, TradeSeries, TradesQuery, (ErrorCode.BAD_REQUEST, *_SYMBOL_ERRORS),
    ),
    Endpoint(
        "/v1/market/status", "getMarketStatus", "Trading phase and source health",
        "Every source's last status on md.status.<source> (the dashboard's view); a source is "
        "up when its last event is not `down` and it spoke within the source timeout.",
        "market", get_market_status, MarketStatus, cached=False,
    ),
)  # fmt: skip
