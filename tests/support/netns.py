"""Test hosts on one machine: a network namespace per host, wired through the link emulator.

``Network(["nats", "bridge"])`` makes one namespace per host (named after this process, so
parallel runs never meet) plus a device in the test's own namespace (host ``"here"``), all on
198.18.0.0/24 — the range set aside for network benchmark tests (RFC 2544), reachable only
between these devices: the namespaces have no other route, so nothing leaves the machine.
Processes run in a host with :meth:`Network.popen`; faults are :meth:`cut`, :meth:`heal` and
:meth:`impair` (tests/support/netem.py applies them). :meth:`close` removes every namespace
and device, also when a test failed.

Needs root and iproute2 (``ip``): the project's machines and CI have both; elsewhere the
constructor says so plainly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

SUBNET = "198.18.0"
PREFIX_LEN = 24
HERE = "here"
IP = shutil.which("ip") or "/usr/sbin/ip"  # iproute2
REPO = Path(__file__).resolve().parents[2]


class NetworkUnavailableError(RuntimeError):
    """This machine cannot build test hosts (not root, or no iproute2)."""


class Network:
    def __init__(self, hosts: list[str], log_dir: Path) -> None:
        if os.geteuid() != 0 or not Path(IP).exists() or not Path("/dev/net/tun").exists():
            raise NetworkUnavailableError(
                "the network-fault tests need root, iproute2 (`ip`) and /dev/net/tun: run them "
                "as root on Linux (make test does on the project's machines)"
            )
        self.tag = f"mdb{os.getpid() % 100000}"
        self.log_dir = log_dir
        self.hosts = [HERE, *hosts]
        self.addresses = {name: f"{SUBNET}.{i}" for i, name in enumerate(self.hosts, start=1)}
        self.namespaces = {name: f"{self.tag}-{name}" for name in hosts}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._relay: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Network:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        for namespace in self.namespaces.values():
            subprocess.run([IP, "netns", "add", namespace], check=True, capture_output=True)
        config = {
            "prefix_len": PREFIX_LEN,
            "hosts": [
                {
                    "name": name,
                    "device": f"{self.tag}{i}",
                    "namespace": self.namespaces.get(name),
                    "address": self.addresses[name],
                }
                for i, name in enumerate(self.hosts)
            ],
        }
        log = (self.log_dir / "netem.log").open("ab")
        self._relay = subprocess.Popen(
            [sys.executable, "-m", "tests.support.netem", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=REPO,
        )
        log.close()
        if self._read_line() != "ready":
            raise RuntimeError(f"the link emulator did not start: see {self.log_dir}/netem.log")

    def _read_line(self) -> str:
        assert self._relay is not None
        assert self._relay.stdout is not None
        return self._relay.stdout.readline().decode().strip()

    def _command(self, **command: Any) -> None:
        assert self._relay is not None
        assert self._relay.stdin is not None
        self._relay.stdin.write(json.dumps(command).encode() + b"\n")
        self._relay.stdin.flush()
        answer = self._read_line()
        if answer != "ok":
            raise RuntimeError(f"the link emulator refused {command}: {answer!r}")

    def cut(self, a: str, b: str) -> None:
        """Silently drop every packet between ``a`` and ``b``: no FIN, no RST, nothing."""
        self._command(op="cut", a=a, b=b)

    def heal(self, a: str, b: str) -> None:
        self._command(op="heal", a=a, b=b)

    def isolate(self, host: str, from_hosts: list[str]) -> None:
        for other in from_hosts:
            self.cut(host, other)

    def rejoin(self, host: str, from_hosts: list[str]) -> None:
        for other in from_hosts:
            self.heal(host, other)

    def impair(self, a: str, b: str, delay_ms: float = 0.0, loss: float = 0.0) -> None:
        """Every packet between ``a`` and ``b`` waits ``delay_ms`` (each way) and is lost with
        probability ``loss``."""
        self._command(op="impair", a=a, b=b, delay_ms=delay_ms, loss=loss)

    def clear(self) -> None:
        self._command(op="clear")

    def popen(
        self, host: str, args: list[str], log: IO[bytes], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` inside ``host``'s namespace (``here``: the test's own)."""
        prefix = [IP, "netns", "exec", self.namespaces[host]] if host != HERE else []
        process = subprocess.Popen(
            [*prefix, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
        self._processes.append(process)
        return process

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        relay = self._relay
        if relay is not None:
            if relay.stdin is not None:
                relay.stdin.close()  # the relay exits on EOF and its devices go with it
            try:
                relay.wait(5)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait(5)
            if relay.stdout is not None:
                relay.stdout.close()
        for namespace in self.namespaces.values():
            subprocess.run([IP, "netns", "del", namespace], capture_output=True)
