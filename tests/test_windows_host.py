"""The adapter host's roles run where Windows' rules hold: no uvloop, no add_signal_handler.

Each adapter runs as a real process whose Python behaves like the Windows host's
(tests/support/windowslike: uvloop cannot be imported and every event loop refuses
``add_signal_handler``), publishes to a real nats-server, and stops cleanly on SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest

from mdbridge.natsserver import NatsServer
from schemas import STATUS_STREAM
from schemas.subjects import status_subject
from services.provision import ensure_streams
from tests.support.adapters import SAMPLE_SESSION, eventually, last_payload
from tests.support.processes import logged_process
from tests.support.windowslike import LOOP_MARK, windows_like_env
from tests.support.xtfake import subprocess_env

MDBRIDGE = [sys.executable, "-m", "mdbridge", "--log-level", "INFO"]


def test_the_windows_like_environment_refuses_uvloop_and_signal_handlers() -> None:
    """The stand-in environment is what the tests below rely on: check it bites."""
    probe = (
        "import asyncio, signal\n"
        "try:\n    import uvloop\nexcept ImportError:\n    print('no uvloop')\n"
        "loop = asyncio.new_event_loop()\n"
        "try:\n    loop.add_signal_handler(signal.SIGINT, print)\n"
        "except NotImplementedError:\n    print('no add_signal_handler')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=windows_like_env(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split("\n")[:2] == ["no uvloop", "no add_signal_handler"]


async def _published_then_interrupted(
    command: list[str], env: dict[str, str], url: str, source: str, log: Path
) -> str:
    """Start ``command``, wait for its status heartbeat in NATS, SIGINT it; its output."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    with logged_process(command, env, log, stop=None) as process:

        async def heartbeat() -> dict[str, Any] | None:
            if process.poll() is not None:
                pytest.fail(f"exited with {process.returncode}: {await _tail(log)}")
            status = await last_payload(js, STATUS_STREAM, status_subject(source))
            return status if status is not None and status.get("published", 0) else None

        try:
            await eventually(heartbeat, timeout=60, interval=0.2)
        except TimeoutError:
            pytest.fail(f"no heartbeat with data published: {await _tail(log)}")
        finally:
            await nc.close()
        process.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(process.wait, 30)
    text = await asyncio.to_thread(log.read_text)
    assert code == 0, text[-3000:]
    return text


async def _tail(log: Path) -> str:
    return (await asyncio.to_thread(log.read_text))[-3000:]


def _assert_clean_portable_stop(output: str, name: str) -> None:
    assert LOOP_MARK in output  # the policy's loop ran it: uvloop was not used
    assert "SIGINT received: stopping" in output  # the portable handler, not add_signal_handler
    assert f"adapter {name} stopped:" in output
    assert "Traceback" not in output
    assert "NotImplementedError" not in output
    assert '"level":"CRITICAL"' not in output
    assert '"level":"ERROR"' not in output


async def test_the_sim_adapter_runs_and_stops_like_on_windows(
    fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    source = "winlike-sim"
    command = [
        *MDBRIDGE,
        "adapter",
        "sim",
        "--nats-url",
        fresh_nats_server.url,
        "--source-id",
        source,
    ]
    command += ["--symbols", "20", "--session", "always_open"]
    env = windows_like_env({**os.environ, "MDBRIDGE_STATUS_INTERVAL_S": "0.3"})
    output = await _published_then_interrupted(
        command, env, fresh_nats_server.url, source, tmp_path / "sim.log"
    )
    _assert_clean_portable_stop(output, "sim")


async def test_the_xtquant_adapter_runs_and_stops_like_on_windows(
    fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    source = "winlike-xt"
    command = [*MDBRIDGE, "adapter", "xtquant", "--nats-url", fresh_nats_server.url]
    command += ["--source-id", source, "--symbols", "600000.SH,000001.SZ"]
    command += ["--calendar", "always_open", "--klines", "derive"]
    env = windows_like_env(
        subprocess_env(FAKE_XTQUANT_AUTO_MS="200", MDBRIDGE_STATUS_INTERVAL_S="0.3")
    )
    output = await _published_then_interrupted(
        command, env, fresh_nats_server.url, source, tmp_path / "xt.log"
    )
    _assert_clean_portable_stop(output, "xtquant")


async def test_record_and_replay_run_and_stop_like_on_windows(
    fresh_nats_server: NatsServer, tmp_path: Path
) -> None:
    """replay runs to its end; record runs until Ctrl-C and then writes what it got."""
    url = fresh_nats_server.url
    env = windows_like_env(dict(os.environ))
    out = tmp_path / "again.jsonl.gz"
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream())  # recording needs the streams; the adapters make them
    await nc.close()
    replay = [*MDBRIDGE, "replay", str(SAMPLE_SESSION), "--speed", "max", "--nats-url", url]
    record = [*MDBRIDGE, "record", str(out), "md.quote.>", "--nats-url", url]
    log = tmp_path / "record.log"
    with logged_process(record, env, log, stop=None) as recorder:
        await eventually(lambda: b'"msg":"recording' in log.read_bytes(), timeout=30)
        with logged_process(replay, env, tmp_path / "replay.log", stop=None) as replaying:
            assert await asyncio.to_thread(replaying.wait, 60) == 0
        replayed = await asyncio.to_thread((tmp_path / "replay.log").read_text)
        recorder.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(recorder.wait, 30)
    output = await asyncio.to_thread(log.read_text)
    assert code == 0, output[-3000:]
    for text in (replayed, output):
        assert LOOP_MARK in text
        assert "Traceback" not in text
    assert "SIGINT received: stopping" in output
    count = int(output.strip().rsplit(": ", 1)[1].split()[0])
    assert count > 0
    assert output.strip().endswith(f"{out}: {count} messages")
