"""Bridges as real processes (``python -m mdbridge bridge``), for fault and shutdown tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mdbridge.natsserver import free_port


@contextmanager
def logged_process(
    command: list[str],
    env: dict[str, str],
    log: Path,
    *,
    stop: signal.Signals | None = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    """A process with stdout and stderr in ``log``; on exit ``stop`` it, then kill it."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None and stop is not None:
                process.send_signal(stop)
                with suppress(subprocess.TimeoutExpired):
                    process.wait(10)
            if process.poll() is None:
                process.kill()
                process.wait(5)


class BridgeProcess:
    def __init__(self, nats_url: str, log_dir: Path, name: str = "bridge", **settings: object):
        self.nats_url = nats_url
        self.port = free_port()
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        env = dict(os.environ, MDBRIDGE_LOG_LEVEL="INFO")
        env.update({f"MDBRIDGE_{k.upper()}": str(v) for k, v in self.settings.items()})
        args = [sys.executable, "-m", "mdbridge", "--log-level", env["MDBRIDGE_LOG_LEVEL"]]
        args += ["bridge", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*args, "--nats-url", self.nats_url], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited: {self.log_path.read_text()[-2000:]}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"bridge not ready in {timeout}s: {self.log_path}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def signal(self, signum: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no goodbye to anyone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # in case a test left it stopped
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
