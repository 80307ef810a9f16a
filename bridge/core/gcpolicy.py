"""Keep the cyclic garbage collector off the data path's back.

A bridge process holds ~0.5 million long-lived objects from start-up (pydantic models, the
symbol directory and its pinyin index, libraries). Every full collection walked all of
them: 100-500 ms pauses every few seconds under load, the whole p99 of the fan-out (the
bench caught it, docs/benchmarks.md). Once the server has started, one collection and
``gc.freeze()`` move them into the permanent generation, which collections skip.

Then the young generation gets a larger threshold: with CPython's default (700
allocations) the messages in flight (queued items, NATS messages) were caught alive by
a young collection many times a second, promoted, and soon forced full collections over
every connection's objects. At 50,000 a young collection is rarer and finds them gone;
it costs a few milliseconds when it runs. Measured in docs/benchmarks.md ("Garbage
collection"): p99 at 1,000 clients x 20 symbols went from 110-460 ms to tens of ms.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn

logger = logging.getLogger(__name__)

POLL_S = 0.05
THRESHOLDS = (50_000, 20, 100)  # young, middle, old (CPython's default: 700, 10, 10)


def freeze_heap() -> int:
    """Collect once, exempt every surviving object from later collections, raise thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    frozen = gc.get_freeze_count()
    logger.info("heap settled: %d start-up objects frozen out of garbage collection", frozen)
    return frozen


async def freeze_after_start(server: uvicorn.Server) -> int:
    """Wait until uvicorn has run the lifespan start-up, then :func:`freeze_heap`."""
    while not server.started:
        if server.should_exit:
            return 0
        await asyncio.sleep(POLL_S)
    return freeze_heap()
