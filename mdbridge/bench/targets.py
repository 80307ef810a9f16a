"""The systems under test: mdbridge, nats-server's own WebSocket listener, broadcaster.

All three sit on the same nats-server and the same publisher. Each target says which
client protocol the generator speaks to it and which processes to measure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mdbridge.bench.errors import BenchError
from mdbridge.natsserver import NatsServer, free_port

READY_TIMEOUT_S = 90.0

NATS_CONFIG = """\
websocket {{
  host: "127.0.0.1"
  port: {ws_port}
  no_tls: true
  compression: {compression}
}}
max_payload: 1MB
ping_interval: "{ping_s}ms"
# PINGs are the nats_ws peer's heartbeats; a starved process must not look stale for that.
ping_max: 20
"""


@dataclass
class BenchNats:
    server: NatsServer
    ws_port: int

    @property
    def url(self) -> str:
        return self.server.url

    def pids(self) -> list[int]:
        return [self.server.process.pid] if self.server.process is not None else []


def start_nats(workdir: Path, *, ping_s: float = 5.0, compression: bool = False) -> BenchNats:
    """nats-server with JetStream and a plain WebSocket listener (the no-bridge peer)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ws_port = free_port()
    config = workdir / "nats.conf"
    config.write_text(
        NATS_CONFIG.format(
            ws_port=ws_port, ping_s=int(ping_s * 1000), compression=str(compression).lower()
        )
    )
    server = NatsServer(
        store_dir=workdir / "jetstream",
        port=free_port(),
        config_file=config,
        log_file=workdir / "nats.log",
    ).start()
    return BenchNats(server, ws_port)


def _ready(url: str, process: subprocess.Popen[bytes] | None, name: str, times: int = 1) -> None:
    """Until ``times`` answers in a row are 200 (with workers, any one of them answers)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    streak = 0
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BenchError(f"{name} exited with {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (an http:// URL of our own)
                streak = streak + 1 if response.status == 200 else 0
        except OSError:
            streak = 0
        if streak >= times:
            return
        time.sleep(0.01 if streak else 0.1)
    raise BenchError(f"{name} not ready at {url} after {READY_TIMEOUT_S:.0f}s")


@dataclass
class Target:
    name: str  # results key
    protocol: str  # what the generator speaks: mdbridge | nats | broadcaster
    port: int
    path: str = "/ws"
    host: str = "127.0.0.1"
    deflate: bool = False
    process: subprocess.Popen[bytes] | None = None
    extra_pids: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        own = [self.process.pid] if self.process is not None else []
        return own + self.extra_pids

    async def start(self) -> None:
        """Start the target's own process, if it has one, and wait until it serves."""

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


def _spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, env=env, stdout=out, stderr=out)


@dataclass
class BridgeTarget(Target):
    nats_url: str = ""
    log_dir: Path = Path(".")
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        args = [sys.executable, "-m", "mdbridge", "--log-level", "WARNING", "bridge"]
        args += ["--port", str(self.port), "--nats-url", self.nats_url]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        self.process = _spawn(args, self.log_dir / f"{self.name}.log", dict(os.environ, **self.env))
        url = f"http://{self.host}:{self.port}/readyz"
        times = 1 if self.workers == 1 else 10 * self.workers
        await asyncio.to_thread(_ready, url, self.process, self.name, times)


@dataclass
class BroadcasterTarget(Target):
    nats_url: str = ""
    log_dir: Path = Path(".")

    async def start(self) -> None:
        args = [sys.executable, "-m", "mdbridge.bench.peer_broadcaster"]
        args += ["--port", str(self.port), "--nats-url", self.nats_url]
        self.process = _spawn(args, self.log_dir / f"{self.name}.log")
        url = f"http://{self.host}:{self.port}/healthz"
        await asyncio.to_thread(_ready, url, self.process, self.name)


def nats_ws_target(nats: BenchNats) -> Target:
    return Target(
        name="nats_ws", protocol="nats", port=nats.ws_port, path="/", extra_pids=nats.pids()
    )
