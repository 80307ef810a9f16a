"""A subscribe storm: the shared feed's "is this covered?" must not rescan every subject.

1,000 clients x 20 symbols of the whole market opened in ~10 s at 100% CPU before the
feed kept its uncovered subjects incrementally: every sync tested all referenced subjects
against all filters (docs/benchmarks.md, "Subscribe storm").
"""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from bridge.core.feed import StreamFeed
from schemas import STREAM_BY_TYPE, DataType, stream_subjects
from schemas.subjects import data_subject
from services.provision import ensure_streams

SUBJECTS = [data_subject(DataType.QUOTE, f"{600000 + i:06d}.SH") for i in range(3000)]


def _ignore(subject: str, seq: int, ts_ms: int, payload: bytes) -> None:
    del subject, seq, ts_ms, payload


@pytest.mark.slow
@pytest.mark.parametrize("max_filters", [10_000, 100])  # exact filters, then the wildcard
async def test_sync_with_nothing_new_does_not_look_at_each_subject(
    nc: NatsClient, max_filters: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = nc.jetstream()
    await ensure_streams(js)
    stream = STREAM_BY_TYPE[DataType.QUOTE]
    feed = StreamFeed(
        js, stream, stream_subjects(DataType.QUOTE), _ignore,
        max_filter_subjects=max_filters, debounce_s=0,
    )  # fmt: skip
    try:
        for subject in SUBJECTS:
            feed.acquire(subject)
        await feed.sync()
        assert feed.reconfigurations == 1
        assert all(feed.covers(s) for s in SUBJECTS)

        checks = 0
        covers = feed._covers

        def counting(subject: str) -> bool:
            nonlocal checks
            checks += 1
            return covers(subject)

        monkeypatch.setattr(feed, "_covers", counting)
        for subject in SUBJECTS:  # 3,000 more clients on the same symbols, each syncing
            feed.acquire(subject)
            await feed.sync()
        assert checks == 0  # a repeated subject is known to be covered: no test at all
        assert feed.reconfigurations == 1

        new = data_subject(DataType.QUOTE, "000001.SZ")
        feed.acquire(new)  # one new subject: one test when acquired, one consumer change
        assert checks == 1
        await feed.sync()
        assert feed.covers(new)
        assert feed.reconfigurations == (1 if max_filters == 100 else 2)
    finally:
        await feed.close()
