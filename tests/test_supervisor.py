"""``mdbridge run`` supervises: kill -9 the simulator and only the simulator comes back.

A real ``mdbridge run`` process (nats-server, bridge, simulator, quality monitor), a real
WebSocket client subscribed to a symbol. The simulator is killed with SIGKILL: the client
stays connected, gets ``source_down`` then ``source_up`` and data again, and no other
component restarts. Then SIGINT: the bridge drains first, nats-server goes last, and the
output of the stop has no traceback, no error and no critical alert.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from mdbridge.natsserver import free_port
from mdbridge.supervisor import Backoff, Component, Supervisor
from tests.support.wsclient import Frame, WsClient

SYMBOL = "600000.SH"


class Launched:
    """``mdbridge run`` with its merged output collected line by line by a thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.nats_port = free_port(), free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mdbridge", "--log-level", "WARNING", "run",
             "--port", str(self.port), "--nats-port", str(self.nats_port),
             "--data-dir", str(tmp_path / "data"), "--speed", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group, as a shell gives a job
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def wait_banner(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith("Press Ctrl-C") for line in self.lines):
            assert self.process.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.1)

    def children(self) -> dict[str, psutil.Process]:
        """The components by role (``adapter`` ``sim`` -> sim, ``bridge``, ``quality``, ...)."""
        found: dict[str, psutil.Process] = {}
        for child in psutil.Process(self.process.pid).children():
            try:
                line = child.cmdline()
            except psutil.Error:  # exited and not yet reaped by the supervisor
                continue
            name = "nats-server" if "nats-server" in line[0] else line[-1]
            if "adapter" in line:
                name = line[line.index("adapter") + 1]
            found[name] = child
        return found


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Launched]:
    stack = Launched(tmp_path)
    try:
        stack.wait_banner()
        yield stack
    finally:
        if stack.process.poll() is None:
            for child in psutil.Process(stack.process.pid).children():
                child.kill()
            stack.process.kill()
            stack.process.wait()
        stack.reader.join(10)  # the pipe is at its end once the process is gone
        if stack.process.stdout is not None:
            stack.process.stdout.close()


def fired_alerts(lines: list[str]) -> list[dict[str, Any]]:
    """Alerts that fired in these log lines (a resolution of an earlier one is not one)."""
    fired = []
    for line in lines:
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        alert = entry.get("alert") if isinstance(entry, dict) else None
        if alert is not None and not entry["msg"].endswith("resolved"):
            fired.append(alert)
    return fired


def status_event(event: str) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        return bool(frame["type"] == "status" and frame["data"].get("event") == event)

    return match


def test_the_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0)
    assert [backoff.delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_crashing_component_is_restarted_on_the_schedule_and_the_rest_left_alone() -> None:
    def crash() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    def sleeper() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    exits: list[tuple[str, int, float]] = []
    crashing, steady = Component("crashing", crash), Component("steady", sleeper)
    supervisor = Supervisor(
        [crashing, steady],
        backoff=Backoff(base_s=0.05, cap_s=0.2, stable_s=60),
        on_exit=lambda c, code, delay: exits.append((c.name, code, delay)),
    )
    supervisor.start_all()
    steady_pid = steady.process.pid if steady.process else None
    try:
        deadline = time.monotonic() + 60
        while len(exits) < 5 and time.monotonic() < deadline:
            supervisor.tend()
            time.sleep(0.01)
    finally:
        supervisor.stop([["steady"]], timeout_s=10)
    assert exits[:5] == [("crashing", 3, d) for d in (0.05, 0.1, 0.2, 0.2, 0.2)]
    assert crashing.restarts >= 4
    assert steady.restarts == 0
    assert steady.process is not None
    assert steady.process.pid == steady_pid
    assert steady.process.returncode == -signal.SIGTERM  # asked, not killed


def test_a_configuration_error_stops_everything_instead_of_restarting(tmp_path: Path) -> None:
    """The bridge refuses auth off on a public address (exit 2): no restart loop."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mdbridge", "--log-level", "WARNING", "run", "--host", "0.0.0.0",
         "--port", str(free_port()), "--nats-port", str(free_port()),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "bridge exited with 2 (a configuration error); stopping" in done.stderr
    assert done.stderr.count("a configuration error") == 1
    assert "restarting" not in done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("mdbridge stopped")
    assert time.monotonic() - started < 60  # sanity: not the 60 s readiness wait


async def test_a_killed_simulator_is_restarted_and_clients_are_told(launched: Launched) -> None:
    before = launched.children()
    assert set(before) == {"nats-server", "bridge", "sim", "quality"}, before
    client = await WsClient.open(launched.ws_url)
    assert (await client.next())["data"]["event"] == "connected"
    reply = await client.request("subscribe", {"symbol": SYMBOL, "data_type": "quote"})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    await client.data(timeout=15)

    before["sim"].kill()  # SIGKILL: the simulator says nothing
    killed_at = time.monotonic()
    down = await client.wait_for(status_event("source_down"), timeout=15)
    assert down["data"]["source"] == "sim"
    assert "restarting" in down["data"]["reason"]
    up = await client.wait_for(status_event("source_up"), timeout=30)
    assert up["data"]["source"] == "sim"
    fresh = await client.data(timeout=15)
    assert fresh["data"]["symbol"] == SYMBOL
    assert time.monotonic() - killed_at < 45  # sanity bound only

    after = launched.children()
    assert after["sim"].pid != before["sim"].pid
    for name in ("nats-server", "bridge", "quality"):  # nothing else was touched
        assert after[name].pid == before[name].pid, name
    await client.request("ping", {"n": 1})  # the same connection still answers
    await client.close()

    mark = len(launched.lines)
    os.killpg(launched.process.pid, signal.SIGINT)  # Ctrl-C: to the whole foreground group
    code = await asyncio.to_thread(launched.process.wait, 60)
    await asyncio.to_thread(launched.reader.join, 10)
    stop_output = "".join(launched.lines[mark:])
    assert code == 0, stop_output
    assert stop_output.rstrip().endswith("mdbridge stopped"), stop_output
    for bad in ("Traceback", "ConnectionReconnectingError", '"level":"ERROR"',
                '"level":"CRITICAL"', "NATS error", "Connection refused",
                "nats disconnected", "disconnected from NATS"):  # fmt: skip
        assert bad not in stop_output, stop_output
    assert fired_alerts(launched.lines[mark:]) == [], stop_output
    assert not after["nats-server"].is_running()


async def test_a_killed_nats_server_is_restarted_on_its_store(launched: Launched) -> None:
    before = launched.children()
    client = await WsClient.open(launched.ws_url)
    assert (await client.next())["data"]["event"] == "connected"
    reply = await client.request("subscribe", {"symbol": SYMBOL, "data_type": "quote"})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    first = await client.data(timeout=15)

    before["nats-server"].kill()
    after: dict[str, psutil.Process] = {}
    deadline = time.monotonic() + 30
    while "nats-server" not in after or after["nats-server"].pid == before["nats-server"].pid:
        assert time.monotonic() < deadline, "nats-server was not restarted"
        await asyncio.sleep(0.2)
        after = launched.children()
    again = await client.data(timeout=30)  # the bridge reconnected; the stream kept its store
    assert again["metadata"]["seq"] > first["metadata"]["seq"]
    for name in ("bridge", "sim", "quality"):
        assert after[name].pid == before[name].pid, name
    await client.close()
