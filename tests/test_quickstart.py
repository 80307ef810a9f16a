"""The README's `make run` promise, end to end: `mdbridge run` as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mdbridge.natsserver import free_port, wait_for_port
from tests.support.wsclient import WsClient

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port, nats_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdbridge", "--log-level", "WARNING", "run", "--port", str(port),
         "--nats-port", str(nats_port), "--data-dir", str(tmp_path / "data"), "--speed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(banner)
    assert f"ws://127.0.0.1:{port}/ws" in text, text
    assert f"nats://127.0.0.1:{nats_port}" in text, text
    yield f"ws://127.0.0.1:{port}/ws", proc
    if proc.poll() is None:
        # As Ctrl-C: the launcher stops its components, which run in groups of their own and
        # would outlive a killed launcher.
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.kill()
            proc.wait()
    proc.stdout.close()


async def test_make_run_serves_the_documented_session(
    stack: tuple[str, subprocess.Popen[str]],
) -> None:
    url, proc = stack
    client = await WsClient.open(url)
    connected = await client.next()
    assert connected["data"]["event"] == "connected"

    reply = await client.request("subscribe", {"symbol": "600000.SH", "data_type": "quote"})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    snapshot = await client.data(timeout=15)
    assert snapshot["metadata"]["snapshot"] is True
    live = [await client.data(timeout=15) for _ in range(2)]
    seqs = [snapshot["metadata"]["seq"]] + [m["metadata"]["seq"] for m in live]
    assert seqs == sorted(set(seqs)), seqs
    assert all(m["data"]["symbol"] == "600000.SH" for m in live)

    for wrong in ["600000", "浦发银行"]:
        bad = await client.request("subscribe", {"symbol": wrong})
        entry = bad["data"]["subscriptions"][0]
        assert entry["code"] == "UNKNOWN_SYMBOL"
        assert "600000.SH" in entry["suggestions"]

    listing = await client.request("list_subscriptions")
    assert [r["subscription_id"] for r in listing["data"]["subscriptions"]] == [
        "quote:600000.SH:tick"
    ]
    await client.request("unsubscribe", {"subscription_ids": ["quote:600000.SH:tick"]})
    with pytest.raises(TimeoutError):
        await client.data(timeout=4)  # two snapshot intervals at speed 3: nothing arrives
    await client.close()

    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 0, out
    assert "mdbridge stopped" in out
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    assert not wait_for_port(host, int(port), timeout=0.5), "bridge still listening after stop"


async def test_make_run_has_250_daily_bars_from_the_first_start(
    stack: tuple[str, subprocess.Popen[str]],
) -> None:
    import httpx

    url, _ = stack
    base = url.replace("ws://", "http://").removesuffix("/ws")
    params: dict[str, str | int] = {"period": "1d", "limit": 250}
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        items: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while len(items) < 250 and time.monotonic() < deadline:  # the backfill runs beside
            await asyncio.sleep(0.5)
            items = (await http.get("/v1/klines/600000.SH", params=params)).json()["items"]
    assert len(items) == 250
    client = await WsClient.open(url)
    await client.next()
    request = {"symbol": "600000.SH", "data_type": "kline", "frequency": "1d", "history": 250}
    await client.request("subscribe", request)
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "status":
        frames.append(
            await client.wait_for(lambda f: f["type"] == "kline_data" or "mode" in f["data"])
        )
    history = [f for f in frames if f["type"] == "kline_data" and f["metadata"].get("history")]
    assert len(history) == 250
    assert frames[-1]["data"]["mode"] == "history"
    await client.close()
