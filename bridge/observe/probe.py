"""What a connection's writer learns from the frames it sends, at a bounded cost.

* Latency is *sampled*: one process-wide budget of observations per second, taken from the
  first live data message of the batch being written (broker → socket and source → socket),
  together with the batch size (the queue depth at that moment). Everything else the
  metrics need is read from counters the data path keeps anyway.
* A traced connection (``mdbridge trace``) gets each data frame's hop times in
  ``metadata.trace``; untraced connections pay one attribute test per batch.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

import orjson

from bridge.core.outbox import Item
from bridge.observe.hops import HopTap
from schemas import STREAM_BY_TYPE

_monotonic = time.monotonic
_BROKER_KEY = '"broker_ms":'
_TS_KEY = '"timestamp":"'

# broker → socket ms, source → socket ms (None when the payload has no usable time),
# messages written in the batch
Record = Callable[[float, float | None, int], None]


def live_times(text: str) -> tuple[int, float | None] | None:
    """(broker ms, source ms) of a *live* data frame, or None.

    Snapshots, replays and acknowledged deliveries carry more metadata after ``broker_ms``
    and are skipped: their broker time is not when this send was caused.
    """
    # a live frame ends with the broker_ms digits: skip replays (``true}}``) without a search
    if not text.endswith("}}") or not text[-3:-2].isdigit():
        return None
    at = text.rfind(_BROKER_KEY)
    if at < 0:
        return None
    digits = text[at + len(_BROKER_KEY) : -2]
    if not digits.isdigit():
        return None
    source_ms: float | None = None
    start = text.find(_TS_KEY, text.find('"data":'))
    if start > 0:
        start += len(_TS_KEY)
        try:
            source_ms = datetime.fromisoformat(text[start : text.find('"', start)]).timestamp()
            source_ms *= 1000
        except ValueError:
            source_ms = None
    return int(digits), source_ms


class LatencySampler:
    """A process-wide sampling budget, plus a short window of samples for percentiles."""

    def __init__(self, per_second: float, record: Record, *, window: int = 4096) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else math.inf
        self.next_at = 0.0  # monotonic time the next sample may be taken
        self._record = record
        # (monotonic time, broker → socket ms, source → socket ms or NaN)
        self.window: deque[tuple[float, float, float]] = deque(maxlen=window)

    def observe(self, items: list[Item]) -> None:
        for item in items:
            if item.channel is not None:
                times = live_times(item.text)
                if times is not None:
                    break
        else:
            return
        self.next_at = time.monotonic() + self._interval  # only a recorded sample spends it
        now_ms = time.time() * 1000
        broker = max(0.0, now_ms - times[0])
        source = None if times[1] is None else max(0.0, now_ms - times[1])
        self.window.append((time.monotonic(), broker, math.nan if source is None else source))
        self._record(broker, source, len(items))


class WriterProbe:
    """Called by ``Session.run_writer`` with each batch before it is sent."""

    __slots__ = ("_sampler", "_tap", "trace")

    def __init__(self, sampler: LatencySampler, tap: HopTap) -> None:
        self._sampler = sampler
        self._tap = tap
        self.trace = False

    def __call__(self, items: list[Item]) -> list[Item]:
        sampler = self._sampler
        if _monotonic() >= sampler.next_at:  # inlined: this runs for every batch
            sampler.observe(items)
        if self.trace:
            return self._decorate(items)
        return items

    def set_trace(self, enabled: bool) -> None:
        if enabled and not self.trace:
            self._tap.acquire()
        elif self.trace and not enabled:
            self._tap.release()
        self.trace = enabled

    def _decorate(self, items: list[Item]) -> list[Item]:
        sent_ms = time.time() * 1000
        out: list[Item] = []
        for item in items:
            text, channel = item.text, item.channel
            if channel is None or not text.endswith("}}"):
                out.append(item)
                continue
            hop = self._tap.lookup(STREAM_BY_TYPE[channel.data_type], item.seq)
            trace: dict[str, float | str | None] = {
                "bridge_recv_ms": round(hop[0], 3) if hop else None,
                "sent_ms": round(sent_ms, 3),
                "traceparent": hop[1] if hop else None,
            }
            text = text[:-2] + ',"trace":' + orjson.dumps(trace).decode() + "}}"
            out.append(item.with_text(text))
        return out
