"""The send queue's contract: bounded by age and bytes, notices first, batches bounded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bridge.core.outbox import Flusher, Item, Outbox, control_item, make_item


def quote(key: str, seq: int, text: str = "q") -> Item:
    return make_item(f"{text}{seq}", key, seq, key, f"md.quote.{key}")


def trade(seq: int) -> Item:
    return make_item(f"t{seq}", "trades", seq, None, "md.trade.x")


class Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[Any, int], str]] = []

    def __call__(self, dropped: dict[Any, int], reason: str) -> None:
        self.calls.append((dropped, reason))


async def test_a_backlog_older_than_the_age_bound_keeps_the_newest_quote_per_key() -> None:
    reports = Reports()
    outbox = Outbox(1 << 20, reports, max_age_s=0.02)
    for seq in range(1, 6):
        outbox.push(quote("a", seq))
        outbox.push(trade(seq))
        outbox.push(quote("b", seq))
    await asyncio.sleep(0.03)
    batch = await outbox.take(100)
    assert [item.text for item in batch] == ["t1", "t2", "t3", "t4", "q5", "t5", "q5"]
    assert [item.channel for item in batch if item.conflate_key] == ["a", "b"]
    assert reports.calls == [({"a": 4, "b": 4}, "age")]


async def test_a_resumed_channel_is_never_conflated_for_age_but_is_for_bytes() -> None:
    reports = Reports()
    outbox = Outbox(1 << 20, reports, max_age_s=0.02)
    outbox.exact.add("a")  # the client resumed "a": it asked for every message
    for seq in range(1, 4):
        outbox.push(quote("a", seq))
        outbox.push(quote("b", seq))
    await asyncio.sleep(0.03)
    batch = await outbox.take(100)
    assert [item.text for item in batch if item.channel == "a"] == ["q1", "q2", "q3"]
    assert [item.text for item in batch if item.channel == "b"] == ["q3"]
    assert reports.calls == [({"b": 2}, "age")]

    squeezed = Outbox(200, reports, max_age_s=0.02)
    squeezed.exact.add("a")
    for seq in range(1, 30):
        squeezed.push(quote("a", seq, "x" * 20))
    assert not squeezed.overflowed  # the byte bound still conflates it, announced
    assert reports.calls[-1][1] == "bytes"


async def test_a_young_backlog_is_sent_whole() -> None:
    reports = Reports()
    outbox = Outbox(1 << 20, reports, max_age_s=10.0)
    for seq in range(1, 4):
        outbox.push(quote("a", seq))
    assert [item.seq for item in await outbox.take(100)] == [1, 2, 3]
    assert reports.calls == []


async def test_a_notice_pushed_while_conflating_leads_the_batch() -> None:
    outbox: Outbox

    def notify(dropped: dict[Any, int], reason: str) -> None:
        outbox.push_first(control_item(f"notice {sum(dropped.values())} {reason}"))

    outbox = Outbox(1 << 20, notify, max_age_s=0.01)
    outbox.push(control_item("reply"))
    for seq in range(1, 4):
        outbox.push(quote("a", seq))
    await asyncio.sleep(0.02)
    batch = await outbox.take(100)
    assert [item.text for item in batch] == ["notice 2 age", "reply", "q3"]


async def test_over_the_byte_bound_quotes_conflate_and_trades_overflow() -> None:
    reports = Reports()
    failed: list[str] = []
    outbox = Outbox(4096, reports, failed.append)
    for seq in range(1, 200):
        outbox.push(quote("a", seq, "x" * 100))
    assert outbox.queued_bytes <= 4096
    assert not outbox.overflowed
    assert reports.calls[0][1] == "bytes"
    for seq in range(1, 200):
        outbox.push(make_item("y" * 100, "trades", seq, None, "md.trade.x"))
    assert outbox.overflowed
    assert failed == ["send queue passed 4096 bytes"]


async def test_a_batch_stops_at_its_byte_bound_but_always_takes_one() -> None:
    outbox = Outbox(1 << 20, Reports())
    outbox.push(make_item("x" * 5000, None, 0, None, ""))
    for seq in range(1, 10):
        outbox.push(make_item("y" * 100, None, seq, None, ""))
    first = await outbox.take(100, 1000)
    assert [len(item.text) for item in first] == [5000]
    second = await outbox.take(100, 1000)
    assert len(second) == 9  # 9 x 100 bytes fit in 1000
    assert outbox.queued_bytes == 0


class Writer:
    """A direct writer that records when it ran and takes ``cost_s`` doing it."""

    def __init__(self, outbox: Outbox, cost_s: float = 0.0, ok: bool = True) -> None:
        self.outbox, self.cost_s, self.ok = outbox, cost_s, ok
        self.rounds: list[tuple[float, list[str]]] = []

    def __call__(self) -> bool:
        began = asyncio.get_running_loop().time()
        texts = [item.text for item in self.outbox.take_now(1000)] if self.ok else []
        self.rounds.append((began, texts))
        time.sleep(self.cost_s)  # a round that takes time, as one over many sockets does
        return self.ok


async def test_the_flusher_writes_one_callbacks_pushes_in_one_round_without_the_task() -> None:
    outbox = Outbox(1 << 20, Reports())
    writer = Writer(outbox)
    outbox.go_direct(writer, Flusher())
    for seq in range(1, 4):
        outbox.push(quote("a", seq))
    assert writer.rounds == []  # not before the callback that pushed is done
    await asyncio.sleep(0)
    assert [texts for _, texts in writer.rounds] == [["q1", "q2", "q3"]]
    assert not outbox._wakeup.is_set()  # the writer task was never woken


async def test_a_direct_write_that_cannot_finish_wakes_the_writer_task() -> None:
    outbox = Outbox(1 << 20, Reports())
    outbox.go_direct(Writer(outbox, ok=False), Flusher())
    outbox.push(quote("a", 1))
    await asyncio.sleep(0)
    assert [item.text for item in await asyncio.wait_for(outbox.take(10), 1)] == ["q1"]


async def test_after_a_long_round_the_next_waits_as_long_so_writes_carry_more() -> None:
    outbox = Outbox(1 << 20, Reports())
    writer = Writer(outbox, cost_s=0.03)
    outbox.go_direct(writer, Flusher(pace_max_s=0.5))
    outbox.push(quote("a", 1))
    await asyncio.sleep(0)  # round 1 at once (no round before it), taking 30 ms
    ended = asyncio.get_running_loop().time()
    for seq in range(2, 5):
        outbox.push(quote("a", seq))
        await asyncio.sleep(0)  # separate callbacks: without pacing, three rounds
    async with asyncio.timeout(5):
        while len(writer.rounds) < 2:  # noqa: ASYNC110 (rounds are what is observed)
            await asyncio.sleep(0.005)
    assert [texts for _, texts in writer.rounds] == [["q1"], ["q2", "q3", "q4"]]
    assert writer.rounds[1][0] - ended >= 0.025  # waited about as long as round 1 took


async def test_pacing_is_capped_and_off_when_zero() -> None:
    outbox = Outbox(1 << 20, Reports())
    writer = Writer(outbox, cost_s=0.03)
    outbox.go_direct(writer, Flusher(pace_max_s=0.0))
    for seq in range(1, 3):
        outbox.push(quote("a", seq))
        await asyncio.sleep(0)
    assert [texts for _, texts in writer.rounds] == [["q1"], ["q2"]]


async def test_a_direct_writer_that_raises_is_dropped_for_the_writer_task() -> None:
    outbox = Outbox(1 << 20, Reports())
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise RuntimeError("a bug in the direct path")

    outbox.go_direct(broken, Flusher())
    for seq in range(1, 4):
        outbox.push(quote("a", seq))
        await asyncio.sleep(0)
    assert calls == [1]  # tried once, then the task's: no error per round
    assert [item.text for item in await asyncio.wait_for(outbox.take(10), 1)] == ["q1", "q2", "q3"]
