"""``mdbridge run``: nats-server, the simulator, the bridge and the quality monitor as
supervised processes.

A component that dies is restarted with a backoff (mdbridge/supervisor.py) and nothing else
stops; an adapter that died is reported ``down`` on its status subject at once, so clients
get ``source_down`` and then ``source_up`` when it is back. Ctrl-C or SIGTERM stops the
bridge first (it drains its clients while NATS is still there), then the adapters, then
nats-server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mdbridge.eventloop import stop_signals
from mdbridge.natsserver import NatsServer, NatsServerError
from mdbridge.supervisor import Component, Start, Supervisor, detached
from processkit.settings import ProcessSettings

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
TEND_INTERVAL_S = 0.2
SIM_SOURCE = "sim"
STOP_ORDER = (("bridge",), ("sim", "quality"), ("nats-server",))


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
        ("sim_start", "MDBRIDGE_SIM_START"),
    ]:
        value = getattr(args, flag, None)
        if value is not None:
            env[var] = str(value)
    # The quality monitor judges staleness by the calendar the simulator trades on.
    env.setdefault("MDBRIDGE_CALENDAR", env.get("MDBRIDGE_SIM_SESSION", "always_open"))
    return env


def _wait_ready(url: str, keep_going: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and keep_going():
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (an http:// URL of our own)
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def tell_source_down(nats_url: str, source_id: str, reason: str) -> None:
    """Publish ``down`` for an adapter that died without saying so (kill -9, a crash).

    The bridges tell their clients ``source_down`` now rather than after the silence
    timeout; the restarted adapter's first status brings ``source_up``.
    """
    import nats
    from nats.errors import Error as NatsError

    from schemas import epoch_ms_to_iso
    from schemas.subjects import status_subject
    from services.settings import AdapterSettings

    async def publish() -> None:
        options = AdapterSettings(nats_url=nats_url).nats_connect_kwargs()
        nc = await nats.connect(**options, allow_reconnect=False, connect_timeout=2)
        try:
            now_ms = int(time.time() * 1000)
            payload = {
                "source": source_id,
                "event": "down",
                "timestamp": epoch_ms_to_iso(now_ms),
                "reason": reason,
            }
            msg_id = f"status:{source_id}:down:{now_ms}:supervisor"
            await nc.jetstream().publish(
                status_subject(source_id),
                orjson.dumps(payload),
                timeout=2,
                headers={"Nats-Msg-Id": msg_id},
            )
        finally:
            await nc.close()

    try:
        asyncio.run(publish())
    except (NatsError, OSError, TimeoutError) as exc:
        logger.warning("could not publish that source %s is down: %r", source_id, exc)


def _components(
    args: argparse.Namespace, env: dict[str, str], server: NatsServer | None
) -> list[Component]:
    me = [sys.executable, "-m", "mdbridge", "--log-level", args.log_level]

    def child(*command: str) -> Start:
        return lambda: subprocess.Popen([*me, *command], env=env, **detached())

    components = []
    if server is not None:

        def start_nats() -> subprocess.Popen[bytes]:
            started = server.start().process
            if started is None:
                raise RuntimeError("nats-server did not start")
            return started

        components.append(Component("nats-server", start_nats))
    components += [
        Component("bridge", child("bridge")),
        Component("sim", child("adapter", "sim", "--source-id", SIM_SOURCE), source_id=SIM_SOURCE),
        Component("quality", child("quality")),
    ]
    return components


def run_all(args: argparse.Namespace) -> int:  # noqa: C901 (one flow, top to bottom)
    flags = ["host", "port", "nats_port", "data_dir", "nats_url"]
    settings = RunSettings(**{f: getattr(args, f) for f in flags if getattr(args, f) is not None})
    host, port, nats_url = settings.host, settings.port, settings.nats_url
    server: NatsServer | None = None
    if nats_url is None:
        server = NatsServer(
            store_dir=settings.data_dir / "jetstream",
            port=settings.nats_port,
            log_file=settings.data_dir / "nats.log",
            detach=True,
        )
        nats_url = server.url
    env = _child_env(args, nats_url, host, port)
    components = _components(args, env, server)

    def on_exit(component: Component, code: int, delay: float) -> None:
        if component.source_id is not None and not stopping:
            reason = f"the {component.name} process exited ({code}); restarting in {delay:.0f} s"
            tell_source_down(nats_url, component.source_id, reason)

    supervisor = Supervisor(components, on_exit=on_exit)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in stop_signals():
        signal.signal(sig, stop)
    try:
        supervisor.start_all()
    except NatsServerError as exc:
        hint = f"is port {settings.nats_port} in use? try --nats-port"
        print(f"mdbridge: {exc} ({hint})", file=sys.stderr)
        supervisor.stop(STOP_ORDER)
        return 1
    fatal: list[str] = []

    def keep_going() -> bool:
        for component in supervisor.tend():
            code = component.process.returncode if component.process else None
            print(
                f"mdbridge: {component.name} exited with {code} (a configuration error); stopping",
                file=sys.stderr,
            )
            fatal.append(component.name)
        return not stopping and not fatal

    status = 0
    try:
        if _wait_ready(f"http://{host}:{port}/readyz", keep_going):
            print(
                f"\nmdbridge is running\n  WebSocket  ws://{host}:{port}/ws\n"
                f"  NATS       {nats_url}\n  health     http://{host}:{port}/readyz\n"
                f"  dashboard  http://{host}:{port}/dashboard\n"
                f"  quotes     http://{host}:{port}/board\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
        elif not stopping and not fatal:
            print("mdbridge: the bridge did not become ready; stopping", file=sys.stderr)
            status = 1
            stopping = True
        while keep_going():
            time.sleep(TEND_INTERVAL_S)
        if fatal:
            status = 1
    finally:
        supervisor.stop(STOP_ORDER)  # the bridge drains first, nats-server goes last
        print("mdbridge stopped", flush=True)
    return status
