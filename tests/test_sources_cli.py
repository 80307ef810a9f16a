"""The source commands as a user runs them: help, record and replay through ``mdbridge``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from mdbridge.natsserver import NatsServer
from services.provision import ensure_streams
from services.replay import read_recording
from tests.support.adapters import SAMPLE_SESSION as SAMPLE

MDBRIDGE = [sys.executable, "-m", "mdbridge", "--log-level", "WARNING"]


def test_the_xtquant_help_says_what_a_windows_host_needs() -> None:
    out = subprocess.run(
        [*MDBRIDGE, "adapter", "xtquant", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for needed in ["MiniQMT", "logged in", "58610", 'pip install ".[adapter]" xtquant',
                   "py -3.11 -m venv", "mdbridge_ashare-0.1.0-py3-none-any.whl[adapter]", "Level-2",
                   "MDBRIDGE_NATS_URL", "MDBRIDGE_HOLIDAYS", "--symbols", "--sectors", "--level2",
                   "subscribe_whole_quote", "get_instrument_detail", "--source-id"]:  # fmt: skip
        assert needed in out, needed


async def test_record_and_replay_commands(fresh_nats_server: NatsServer, tmp_path: Path) -> None:
    url = fresh_nats_server.url
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream())  # recording needs the streams; the adapters make them
    await nc.close()
    out = tmp_path / "again.jsonl.gz"
    with read_recording(SAMPLE) as (_, records):
        quotes = [r for r in records if r.subject.startswith("md.quote.")][:50]
    recorder = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mdbridge", "record", str(out), "md.quote.>", "--nats-url", url,
        "--max-messages", "50", "--duration", "60", stdout=subprocess.PIPE,
    )  # fmt: skip
    assert recorder.stdout is not None
    while True:  # subscribed once it says so: what is published from then on is recorded
        line = await asyncio.wait_for(recorder.stdout.readline(), 30)
        assert line, "the recorder exited"
        if b'"msg":"recording' in line:
            break
    replay = await asyncio.create_subprocess_exec(
        *MDBRIDGE, "replay", str(SAMPLE), "--speed", "max", "--nats-url", url
    )
    assert await asyncio.wait_for(replay.wait(), 60) == 0
    stdout, _ = await asyncio.wait_for(recorder.communicate(), 60)
    assert recorder.returncode == 0
    assert stdout.decode().strip().endswith(f"{out}: 50 messages")
    with read_recording(out) as (_, records):
        again = list(records)
    assert [(r.subject, r.data, r.headers) for r in again] == [
        (r.subject, r.data, r.headers) for r in quotes
    ]


@pytest.mark.slow
async def test_xtquant_without_the_sdk_says_so(fresh_nats_server: NatsServer) -> None:
    command = [*MDBRIDGE, "adapter", "xtquant", "--nats-url", fresh_nats_server.url]
    process = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "xtquant is not installed: `pip install xtquant` on the Windows host" in stderr.decode()
