"""Record and replay against a real nats-server: the sample session, timing, the recorder."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from mdbridge.natsserver import NatsServer
from services.provision import ensure_streams
from services.publisher import MSG_ID_HEADER
from services.replay import Record, RecordingWriter, read_recording, record
from services.replay.adapter import is_source_status
from services.runner import run_adapter
from services.settings import AdapterSettings
from tests.support.adapters import SAMPLE_SESSION as SAMPLE
from tests.support.adapters import eventually

Seen = tuple[str, bytes, dict[str, str] | None]


@pytest.fixture
async def nc(fresh_nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(fresh_nats_server.url)
    await ensure_streams(client.jetstream())
    yield client
    await client.close()


async def watch(nc: NatsClient, *subjects: str) -> list[tuple[float, Seen]]:
    """Everything published on ``subjects`` from now on, in the order the server sent it."""
    seen: list[tuple[float, Seen]] = []

    async def keep(msg: Msg) -> None:
        seen.append((time.monotonic(), (msg.subject, msg.data, msg.headers)))

    for subject in subjects:
        await nc.subscribe(subject, cb=keep)
    await nc.flush()
    return seen


async def replay(url: str, path: Path, speed: str) -> None:
    settings = AdapterSettings(
        nats_url=url, source_id="replay", replay_file=path, replay_speed=speed
    )
    await asyncio.wait_for(run_adapter("replay", settings, asyncio.Event()), 60)


async def test_replaying_the_sample_session_reproduces_it_exactly(
    fresh_nats_server: NatsServer, nc: NatsClient
) -> None:
    assert SAMPLE.stat().st_size < 200_000
    with read_recording(SAMPLE) as (_, records):
        expected: list[Seen] = [
            (r.subject, r.data, r.headers) for r in records if not is_source_status(r.subject)
        ]
    kinds = Counter(subject.split(".")[1] for subject, _, _ in expected)
    assert {"quote", "depth", "trade", "kline", "md_symbols"} <= set(kinds)  # $KV.md_symbols.*
    seen = await watch(nc, "md.>", "$KV.md_symbols.>")

    await replay(fresh_nats_server.url, SAMPLE, "max")

    def data() -> list[Seen]:  # the final bars it also stores as history: test_history_store
        skip = ("md.status.replay", "md.bar.")
        return [s for _, s in seen if not s[0].startswith(skip)]

    await eventually(lambda: len(data()) >= len(expected))
    assert data() == expected  # subjects, payload bytes, headers (Nats-Msg-Id), order
    js = nc.jetstream()
    for stream, kind in [("MD_QUOTE", "quote"), ("MD_KLINE", "kline"), ("MD_TRADE", "trade")]:
        assert (await js.stream_info(stream)).state.messages == kinds[kind]  # none deduped
    assert (await js.stream_info("KV_md_symbols")).state.messages == kinds["md_symbols"]
    status = orjson.loads((await js.get_last_msg("MD_STATUS", "md.status.replay")).data or b"")
    assert status["event"] == "down"  # the replay ended: its source says so


async def test_replay_keeps_the_recorded_timing(
    fresh_nats_server: NatsServer, nc: NatsClient, tmp_path: Path
) -> None:
    path = tmp_path / "timed.jsonl.gz"
    start = time.time_ns()
    with RecordingWriter(path, ["md.trade.>"], start, "test") as writer:
        for i in range(4):  # 0.3 s apart, plus a source heartbeat that is not replayed
            body = orjson.dumps({"symbol": "600000.SH", "n": i})
            writer.write(
                Record(
                    start + i * 300_000_000, "md.trade.600000.SH", {MSG_ID_HEADER: f"t{i}"}, body
                )
            )
            writer.write(Record(start + i * 300_000_000, "md.status.sim", None, b"{}"))
    seen = await watch(nc, "md.trade.>", "md.status.sim")

    began = time.monotonic()
    await replay(fresh_nats_server.url, path, "2x")
    await eventually(lambda: len(seen) == 4)
    stamps = [at for at, _ in seen]
    assert [s[2] for _, s in seen] == [{MSG_ID_HEADER: f"t{i}"} for i in range(4)]
    assert 0.4 < stamps[-1] - stamps[0] < 3.0  # 0.9 s recorded, at 2x: 0.45 s
    assert stamps[0] - began < 5.0


@pytest.mark.parametrize("suffix", [".jsonl.zst", ".jsonl.gz", ".jsonl"])
async def test_the_recorder_writes_what_the_broker_holds(
    nc: NatsClient, tmp_path: Path, suffix: str
) -> None:
    js = nc.jetstream()
    kv = await js.key_value("md_symbols")
    await kv.put("600000.SH", b'{"symbol":"600000.SH"}')  # state before the recording
    path = tmp_path / f"rec{suffix}"
    stop, subscribed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        record(
            nc,
            path,
            ["md.quote.>", "md.status.symbol.>", "$KV.md_symbols.>"],
            stop,
            subscribed=subscribed,
        )
    )
    await subscribed.wait()
    acks = []
    for i in range(3):
        body = orjson.dumps({"symbol": "600000.SH", "i": i})
        acks.append(await js.publish("md.quote.600000.SH", body, headers={MSG_ID_HEADER: f"q{i}"}))
    await js.publish("md.kline.1m.600000.SH", b"{}")  # not chosen
    await js.publish("md.status.symbol.600000.SH", b'{"event":"halted"}')
    await eventually(lambda: path.exists())
    await asyncio.sleep(0.3)
    stop.set()
    assert await task == 5

    with read_recording(path) as (header, records):
        got = list(records)
    assert header["subjects"] == ["md.quote.>", "md.status.symbol.>", "$KV.md_symbols.>"]
    directory = [r for r in got if r.subject.startswith("$KV")]
    assert [r.data for r in directory] == [b'{"symbol":"600000.SH"}']
    assert directory[0].t_ns < header["started_ns"]  # found at the start, replayed first
    quotes = [r for r in got if r.subject == "md.quote.600000.SH"]
    assert [r.headers for r in quotes] == [{MSG_ID_HEADER: f"q{i}"} for i in range(3)]
    assert [orjson.loads(r.data)["i"] for r in quotes] == [0, 1, 2]
    for ack, rec in zip(acks, quotes, strict=True):
        stored = await js.get_msg("MD_QUOTE", ack.seq)
        assert stored.data == rec.data
        assert stored.time is not None
        assert abs(rec.t_ns / 1e9 - stored.time.timestamp()) < 0.001  # the broker's own time
    assert any(r.subject == "md.status.symbol.600000.SH" for r in got)


async def test_bars_of_an_older_recording_are_relabelled_by_their_end(
    nc: NatsClient, fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    """Recorded before bars carried ``start``: a bar stamped 09:30 (its start) replays as
    09:31 with start 09:30, a 60m bar of 13:00 as 14:00; its message id is unchanged."""
    path = tmp_path / "old.jsonl.gz"
    old = {"symbol": "600000.SH", "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0,
           "volume": 100, "amount": 1000.0, "closed": True, "source": "old"}  # fmt: skip
    bars = [
        (f"md.kline.{period}.600000.SH", old | {"timestamp": f"2026-11-20T{at}.000+08:00",
                                                "period": period})
        for period, at in (("1m", "09:30:00"), ("60m", "13:00:00"))
    ]  # fmt: skip
    with RecordingWriter(path, ["md.kline.>"], time.time_ns(), "test") as writer:
        for n, (subject, bar) in enumerate(bars):
            headers = {MSG_ID_HEADER: f"old-{n}"}
            writer.write(Record(time.time_ns(), subject, headers, orjson.dumps(bar)))
    seen = await watch(nc, "md.kline.>")
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url, source_id="replay", replay_file=path,
        replay_speed="max", calendar="real",
    )  # fmt: skip
    await asyncio.wait_for(run_adapter("replay", settings, asyncio.Event()), 60)
    await eventually(lambda: len(seen) == 2)
    payloads = [orjson.loads(data) for _, (_, data, _) in seen]
    assert [(p["timestamp"], p["start"]) for p in payloads] == [
        ("2026-11-20T09:31:00.000+08:00", "2026-11-20T09:30:00.000+08:00"),
        ("2026-11-20T14:00:00.000+08:00", "2026-11-20T13:00:00.000+08:00"),
    ]
    assert [headers[MSG_ID_HEADER] for _, (_, _, headers) in seen if headers] == ["old-0", "old-1"]
