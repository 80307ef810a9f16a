"""K-line history for REST and ``subscribe … "history"``: the history stream plus the live one.

Closed bars live in ``MD_BAR_<P>`` (years of them, one message each); the K-line stream
``MD_KLINE`` holds the last day's bar updates, the forming bar included. A series is both,
merged by bar time: a bar the live stream has is served in its live version (its ``seq`` is a
``MD_KLINE`` position, the one the WebSocket uses), older bars come from history. The live read
stops at the stream position taken first (``upto``): resuming the WebSocket from it continues
exactly after what the series shows.
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
        for span in (hist, live):  # live second: its version of a bar wins
            if span.last_seq < max(span.first_seq, 1):
                continue
            found = await self._read(span, query, query.budget - out.scanned)
            out.scanned += found.scanned
            out.truncated |= found.truncated
            for stored in found.items:
                ts = payload_ms(stored[3])
                if ts is not None:
                    merged[ts] = Bar(ts, stored, span.stream)
        bars = [merged[ts] for ts in sorted(merged)]
        out.bars = bars[: query.limit] if query.start_ms is not None else bars[-query.limit :]
        return out

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
