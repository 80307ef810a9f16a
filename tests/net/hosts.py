"""NATS servers, bridges and clients as processes on the test hosts of tests/support/netns.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mdbridge.natsserver import find_nats_server, wait_for_port
from tests.support.deploy import CHART
from tests.support.netns import IP, Network

NATS_PORT = 4222
BRIDGE_PORT = 8000


def chart_nats_timing() -> str:
    """The servers' ping settings as the shipped chart sets them (helm/mdbridge/values.yaml),
    so what these tests prove is what the chart runs."""
    nats_values = yaml.safe_load((CHART / "values.yaml").read_text())["nats"]
    return (
        f'ping_interval: "{nats_values["pingIntervalSeconds"]}s"\n'
        f"ping_max: {nats_values['pingMax']}\n"
    )


NATS_TIMING = chart_nats_timing()


@dataclass
class Host:
    """One process on a test host, with its log."""

    network: Network
    host: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return self.network.addresses[self.host]

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_nats(network: Network, host: str, base: Path, config: str = "") -> Host:
    home = base / f"nats-{host}"
    home.mkdir(parents=True)
    conf = home / "nats.conf"
    conf.write_text(NATS_TIMING + config)
    address = network.addresses[host]
    args = [find_nats_server(), "-js", "-a", address, "-p", str(NATS_PORT)]
    args += ["-sd", str(home / "store"), "-c", str(conf)]
    log_path = home / "nats.log"
    with log_path.open("ab") as log:
        process = network.popen(host, args, log)
    if not wait_for_port(address, NATS_PORT, 15):
        raise RuntimeError(f"nats-server on {host} did not listen: {log_path.read_text()}")
    return Host(network, host, process, log_path)


def nats_url(network: Network, *hosts: str) -> str:
    return ",".join(f"nats://{network.addresses[h]}:{NATS_PORT}" for h in hosts)


def start_bridge(network: Network, host: str, base: Path, url: str, **settings: Any) -> Host:
    """A bridge on all of ``host``'s addresses (its own loopback too, for the admin API)."""
    env = {
        "MDBRIDGE_ALLOW_INSECURE_BIND": "true",
        "MDBRIDGE_LOG_LEVEL": "INFO",
        **{f"MDBRIDGE_{k.upper()}": str(v) for k, v in settings.items()},
    }
    log_path = base / f"bridge-{host}.log"
    args = [sys.executable, "-m", "mdbridge", "bridge", "--host", "0.0.0.0"]
    args += ["--port", str(BRIDGE_PORT), "--nats-url", url]
    with log_path.open("ab") as log:
        process = network.popen(host, args, log, env={**os.environ, **env})
    bridge = Host(network, host, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bridge on {host} exited: {bridge.tail()}")
        if ready(bridge):
            return bridge
        time.sleep(0.2)
    raise RuntimeError(f"bridge on {host} not ready: {bridge.tail()}")


def ws_url(bridge: Host) -> str:
    return f"ws://{bridge.address}:{BRIDGE_PORT}/ws"


def fetch(bridge: Host, path: str) -> tuple[int, Any]:
    """GET ``path`` from the bridge's own loopback (the admin API answers loopback only)."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://127.0.0.1:{BRIDGE_PORT}{path}', timeout=2)\n"
        "    print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
    )
    prefix = [IP, "netns", "exec", bridge.network.namespaces[bridge.host]]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    status, _, body = done.stdout.partition("\n")
    if not status:
        return 0, done.stderr
    try:
        return int(status), json.loads(body)
    except json.JSONDecodeError:
        return int(status), body


def ready(bridge: Host) -> bool:
    try:
        url = f"http://{bridge.address}:{BRIDGE_PORT}/readyz"
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def open_sockets(process: subprocess.Popen[bytes]) -> int:
    """TCP sockets the process holds (its fds that are sockets)."""
    fd_dir = Path(f"/proc/{process.pid}/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if fd.readlink().name.startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count
