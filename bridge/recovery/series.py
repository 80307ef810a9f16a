"""K-line and trade history out of the streams, bounded by a scan budget.

Bars: the K-line stream holds every update of a bar (``closed: false`` ... ``closed: true``);
a bar's history entry is its latest stored version, which is what the WebSocket pushed last for
that bar. Trades: every stored trade. Positions are found by binary search on the payload
timestamps (:meth:`DirectReader.seek`), then read forward in batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.recovery.direct import BATCH, DirectReader, Stored, payload_ms

MAX_WIDENINGS = 8
TRADE_WINDOW_MS = 60_000


@dataclass
class Series:
    """What one history request found; ``items`` are in stream order."""

    items: list[Stored] = field(default_factory=list)
    scanned: int = 0
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Span:
    stream: str
    subject: str
    first_seq: int  # the stream's, from stream info
    last_seq: int


class _Collector:
    """Keeps the latest version per key (a bar's start time, or a trade's sequence)."""

    def __init__(self, collapse: bool) -> None:
        self.collapse = collapse
        self.by_key: dict[int, Stored] = {}

    def add(self, ts_ms: int, msg: Stored) -> None:
        self.by_key[ts_ms if self.collapse else msg.seq] = msg

    def __len__(self) -> int:
        return len(self.by_key)


async def _scan(
    reader: DirectReader,
    span: Span,
    seq: int,
    collector: _Collector,
    series: Series,
    *,
    budget: int,
    end_ms: int | None,
    stop_after: int | None,
) -> None:
    """Read forward from ``seq`` into ``collector`` until past ``end_ms``, past ``stop_after``
    keys, out of messages, or out of budget (then ``series.truncated``)."""
    while True:
        room = budget - series.scanned
        if room <= 0:
            series.truncated = True
            return
        want = min(BATCH, room)
        chunk = await reader.read(span.stream, span.subject, seq, want)
        series.scanned += len(chunk)
        for msg in chunk:
            if msg.seq > span.last_seq:
                return  # stored after the request began: the answer is as of last_seq
            ts = payload_ms(msg.data)
            if ts is None:
                continue
            if end_ms is not None and ts > end_ms:
                return
            collector.add(ts, msg)
            if stop_after is not None and len(collector) > stop_after:
                del collector.by_key[next(reversed(collector.by_key))]
                return
        if len(chunk) < want:
            return
        seq = chunk[-1].seq + 1


async def forward(
    reader: DirectReader,
    span: Span,
    *,
    start_ms: int,
    end_ms: int | None,
    limit: int,
    collapse: bool,
    budget: int,
) -> Series:
    """The first ``limit`` items stamped in [start_ms, end_ms]."""
    series = Series()
    seq = await reader.seek(span.stream, span.subject, start_ms, span.first_seq, span.last_seq)
    collector = _Collector(collapse)
    await _scan(
        reader, span, seq, collector, series, budget=budget, end_ms=end_ms, stop_after=limit
    )
    series.items = list(collector.by_key.values())
    return series


async def tail(
    reader: DirectReader,
    span: Span,
    *,
    end_ms: int | None,
    limit: int,
    collapse: bool,
    window_ms: int,
    budget: int,
) -> Series:
    """The last ``limit`` items stamped at or before ``end_ms`` (default: the newest).

    Starts ``window_ms`` before the anchor and widens the window fourfold until it holds
    ``limit`` items or reaches the subject's first message.
    """
    series = Series()
    first = await reader.next_from(span.stream, span.subject, span.first_seq)
    if first is None or first.seq > span.last_seq:
        return series
    if end_ms is None:
        newest = await reader.last_of(span.stream, [span.subject])
        if not newest:
            return series
        anchor = payload_ms(newest[0].data) or 0
    else:
        anchor = end_ms
    kept: _Collector | None = None
    for _ in range(MAX_WIDENINGS):
        collector = _Collector(collapse)
        start = await reader.seek(
            span.stream, span.subject, anchor - window_ms, span.first_seq, span.last_seq
        )
        await _scan(
            reader, span, start, collector, series, budget=budget, end_ms=end_ms, stop_after=None
        )
        if series.truncated:
            # A wider window ran out of budget: the narrower one still has the newest items.
            kept = kept or collector
            break
        kept = collector
        if len(collector) >= limit or start <= first.seq:
            break
        window_ms *= 4
    series.items = list(kept.by_key.values())[-limit:] if kept else []
    return series
