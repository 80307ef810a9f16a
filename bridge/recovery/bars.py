"""K-line history for REST and ``subscribe … "history"``: the history stream plus the live one.

Closed bars live in ``MD_BAR_<P>`` (years of them, one message each); the K-line stream
``MD_KLINE`` holds the last day's bar updates, the forming bar included. A series is both,
merged by bar time: the bars history holds come from it, the bars after its newest from the
live stream (their ``seq`` is a ``MD_KLINE`` position, the one the WebSocket uses; usually
just the forming bar, read as the subject's last message rather than by reading all its
updates). The live read stops at the stream position taken first (``upto``): resuming the
WebSocket from it continues exactly after what the series shows. Windows that end in the
past, or a history that lags the live stream, read the live updates (collapsed per bar)
and let the live version of a bar win.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bridge.recovery.direct import DirectReader, Stored, payload_ms
from bridge.recovery.series import Series, Span, forward, tail
from schemas import STREAM_BY_TYPE, DataType, data_subject
from schemas.history import history_stream, history_subject

PERIOD_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "60m": 3_600_000}
DAY_MS = 86_400_000
# (first_seq, last_seq) of a stream by name; (1, 0) for an empty or missing one
Bounds = Callable[[str], Awaitable[tuple[int, int]]]
# A daily window of N bars spans more calendar days (weekends, holidays): read 1.5x as wide.
CALENDAR_SLACK = 1.5


@dataclass(slots=True)
class Bar:
    ts_ms: int
    stored: Stored
    stream: str


@dataclass(slots=True)
class BarSeries:
    bars: list[Bar] = field(default_factory=list)
    upto: int = 0  # the MD_KLINE position the series reflects: resume from here
    scanned: int = 0
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class BarQuery:
    symbol: str
    period: str
    start_ms: int | None
    end_ms: int | None
    limit: int
    budget: int


class BarReader:
    """Reads merged bar series with direct gets (no consumer on the server)."""

    def __init__(self, reader: DirectReader, bounds: Bounds) -> None:
        self._reader = reader
        self._bounds = bounds

    async def series(self, query: BarQuery) -> BarSeries:
        live_stream = STREAM_BY_TYPE[DataType.KLINE]
        hist_stream = history_stream(query.period)
        live_first, live_last = await self._bounds(live_stream)
        hist_first, hist_last = await self._bounds(hist_stream)
        live = Span(
            live_stream, data_subject(DataType.KLINE, query.symbol, query.period),
            live_first, live_last,
        )  # fmt: skip
        hist = Span(hist_stream, history_subject(query.period, query.symbol), hist_first, hist_last)
        out = BarSeries(upto=live_last)
        merged: dict[int, Bar] = {}
        if _holds(hist):
            self._add(merged, out, hist, await self._read(hist, query, query.budget))
        full_page = query.start_ms is not None and len(merged) >= query.limit
        if _holds(live) and not full_page:
            after = max(merged) + 1 if merged else None
            found = await self._live(live, query, after, query.budget - out.scanned)
            self._add(merged, out, live, found)
        bars = [merged[ts] for ts in sorted(merged)]
        out.bars = bars[: query.limit] if query.start_ms is not None else bars[-query.limit :]
        return out

    @staticmethod
    def _add(merged: dict[int, Bar], out: BarSeries, span: Span, found: Series) -> None:
        out.scanned += found.scanned
        out.truncated |= found.truncated
        for stored in found.items:
            ts = payload_ms(stored[3])
            if ts is not None:
                merged[ts] = Bar(ts, stored, span.stream)

    async def _live(self, span: Span, query: BarQuery, after: int | None, budget: int) -> Series:
        """The live stream's bars after the newest stored one (``after``; None: none stored).

        Usually that is the forming bar alone, whose latest version is the subject's last
        message: two look-ups instead of reading every update of the day (with every
        snapshot updating every period, a day bar has thousands). Else (history lags, or a
        window in the past) the updates are read from ``after`` on.
        """
        if after is None:
            return await self._read(span, query, budget)
        reader, subject = self._reader, span.subject
        if query.end_ms is None:
            first = await reader.seek(span.stream, subject, after, span.first_seq, span.last_seq)
            oldest = (
                await reader.next_from(span.stream, subject, first)
                if first <= span.last_seq
                else None
            )
            if oldest is None or oldest[1] > span.last_seq:
                return Series(scanned=2)  # nothing live after the stored bars
            newest = await reader.last_of(span.stream, [subject])
            if (
                newest
                and newest[0][1] <= span.last_seq
                and payload_ms(newest[0][3]) == payload_ms(oldest[3])
            ):
                return Series(items=newest, scanned=3)
        if query.start_ms is None:
            return await self._read(span, query, budget)  # the latest bars, wherever they start
        forward_from = BarQuery(
            query.symbol, query.period, max(after, query.start_ms), query.end_ms, query.limit,
            budget,
        )  # fmt: skip
        return await self._read(span, forward_from, budget)

    async def _read(self, span: Span, query: BarQuery, budget: int) -> Series:
        if budget <= 0:
            return Series(truncated=True)
        if query.start_ms is not None:
            return await forward(
                self._reader, span, start_ms=query.start_ms, end_ms=query.end_ms,
                limit=query.limit, collapse=True, budget=budget,
            )  # fmt: skip
        width = PERIOD_MS.get(query.period, int(DAY_MS * CALENDAR_SLACK))
        return await tail(
            self._reader, span, end_ms=query.end_ms, limit=query.limit, collapse=True,
            window_ms=query.limit * width, budget=budget,
        )  # fmt: skip


def _holds(span: Span) -> bool:
    return span.last_seq >= max(span.first_seq, 1)
