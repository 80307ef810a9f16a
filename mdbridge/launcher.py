"""``mdbridge run``: nats-server, the simulator, the bridge and the quality monitor as
supervised processes."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mdbridge.natsserver import NatsServer, NatsServerError
from processkit.settings import ProcessSettings

READY_TIMEOUT_S = 60.0


class RunSettings(ProcessSettings):
    """What ``mdbridge run`` itself needs; the children read their own settings."""

    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="bridge listen address")
    port: int = Field(default=8000, description="bridge port")
    nats_port: int = Field(default=4222, description="embedded nats-server port")
    data_dir: Path = Field(default=Path(".mdbridge"), description="JetStream store and logs")
    nats_url: str | None = Field(default=None, description="use this NATS, start none")


def _child_env(args: argparse.Namespace, nats_url: str, host: str, port: int) -> dict[str, str]:
    env = dict(os.environ, MDBRIDGE_NATS_URL=nats_url, MDBRIDGE_LOG_LEVEL=args.log_level)
    env.update(MDBRIDGE_HOST=host, MDBRIDGE_PORT=str(port))
    for flag, var in [
        ("sim_symbols", "MDBRIDGE_SIM_SYMBOLS"),
        ("sim_speed", "MDBRIDGE_SIM_SPEED"),
        ("sim_seed", "MDBRIDGE_SIM_SEED"),
        ("sim_session", "MDBRIDGE_SIM_SESSION"),
    ]:
        value = getattr(args, flag, None)
        if value is not None:
            env[var] = str(value)
    # The quality monitor judges staleness by the calendar the simulator trades on.
    env.setdefault("MDBRIDGE_CALENDAR", env.get("MDBRIDGE_SIM_SESSION", "always_open"))
    return env


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (an http:// URL of our own)
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_all(args: argparse.Namespace) -> int:  # noqa: C901 (one flow, top to bottom: see pyproject)
    flags = ["host", "port", "nats_port", "data_dir", "nats_url"]
    settings = RunSettings(**{f: getattr(args, f) for f in flags if getattr(args, f) is not None})
    host, port, nats_url = settings.host, settings.port, settings.nats_url
    server: NatsServer | None = None
    if nats_url is None:
        server = NatsServer(
            store_dir=settings.data_dir / "jetstream",
            port=settings.nats_port,
            log_file=settings.data_dir / "nats.log",
        )
        try:
            server.start()
        except NatsServerError as exc:
            hint = f"is port {settings.nats_port} in use? try --nats-port"
            print(f"mdbridge: {exc} ({hint})", file=sys.stderr)
            return 1
        nats_url = server.url
    env = _child_env(args, nats_url, host, port)
    me = [sys.executable, "-m", "mdbridge", "--log-level", args.log_level]
    children = [
        subprocess.Popen([*me, "adapter", "sim"], env=env),
        subprocess.Popen([*me, "bridge"], env=env),
        subprocess.Popen([*me, "quality"], env=env),
    ]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    try:
        if _wait_ready(f"http://{host}:{port}/readyz", children):
            print(
                f"\nmdbridge is running\n  WebSocket  ws://{host}:{port}/ws\n"
                f"  NATS       {nats_url}\n  health     http://{host}:{port}/readyz\n"
                f"  dashboard  http://{host}:{port}/dashboard\n"
                f"  quotes     http://{host}:{port}/board\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
        elif not stopping:
            print("mdbridge: the bridge did not become ready; stopping", file=sys.stderr)
            status = 1
            stopping = True
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("mdbridge: a component exited; stopping the rest", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if server is not None:
            server.stop()
        print("mdbridge stopped", flush=True)
    return status
