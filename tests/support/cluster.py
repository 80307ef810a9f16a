"""A NATS JetStream cluster and an adapter process on loopback, for the cluster test (bridge
processes are tests/support/processes.py's).

Three ``nats-server`` processes with routes between them, JetStream, their own stores, and the
Helm chart's own users and permissions (``helm/mdbridge/files/nats/least-privilege.conf``), so
the test also proves those permissions are enough for an adapter, a bridge and a reader.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from mdbridge.natsserver import NatsServer, free_port
from tests.support.deploy import CHART

CLUSTER_NAME = "mdbridge"
AUTH_CONF = CHART / "files" / "nats" / "least-privilege.conf"
PASSWORDS = {user: f"{user}-pw" for user in ("adapter", "bridge", "reader", "quality", "admin")}
READY_TIMEOUT_S = 60.0


@dataclass
class NatsCluster:
    nodes: dict[str, NatsServer]  # by server name

    @classmethod
    def start(cls, base: Path, size: int = 3, extra_config: str = "") -> NatsCluster:
        """``extra_config``: more lines for every server's configuration file."""
        ports = [(free_port(), free_port()) for _ in range(size)]
        routes = ", ".join(f"nats://127.0.0.1:{cluster_port}" for _, cluster_port in ports)
        env = dict(os.environ)
        env.update({f"MDBRIDGE_NATS_{user.upper()}_PASSWORD": pw for user, pw in PASSWORDS.items()})
        nodes: dict[str, NatsServer] = {}
        for number, (port, cluster_port) in enumerate(ports, start=1):
            name = f"n{number}"
            home = base / name
            home.mkdir(parents=True)
            shutil.copy(AUTH_CONF, home / AUTH_CONF.name)
            config = home / "nats.conf"
            config.write_text(
                f"server_name: {name}\n"
                f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{cluster_port}\n"
                f"  routes: [{routes}]\n}}\n"
                f"include ./{AUTH_CONF.name}\n{extra_config}"
            )
            nodes[name] = NatsServer(
                store_dir=home / "store",
                port=port,
                config_file=config,
                log_file=home / "nats.log",
                env=env,
            )
        cluster = cls(nodes)
        try:
            for node in nodes.values():
                node.start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        """Every server, as MDBRIDGE_NATS_URL lists them."""
        return ",".join(node.url for node in self.nodes.values())

    async def connect(self, user: str, errors: list[str] | None = None) -> NatsClient:
        """A client of the chart's ``user``; asynchronous errors (permission violations)
        are appended to ``errors`` when given. It moves off a server in lame-duck mode."""

        async def on_error(exc: Exception) -> None:
            if errors is not None:
                errors.append(str(exc))

        async def on_lame_duck() -> None:
            await client.force_reconnect()

        client = await nats.connect(
            servers=self.url.split(","),
            user=user,
            password=PASSWORDS[user],
            inbox_prefix=f"_INBOX_{user}",  # each user may read its own inboxes only
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            error_cb=on_error,
            lame_duck_mode_cb=on_lame_duck,
        )
        return client

    async def wait_for_jetstream(self, nc: NatsClient, timeout: float = 30.0) -> None:
        """Until the cluster has elected its JetStream meta leader."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await nc.jetstream(timeout=2).account_info()
                return
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.25)

    async def stream_leader(self, nc: NatsClient, stream: str) -> str:
        info = await nc.jetstream().stream_info(stream)
        leader = info.cluster.leader if info.cluster is not None else None
        assert leader, f"{stream} has no leader"
        return str(leader)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


@dataclass
class Process:
    """One ``python -m mdbridge ...`` child, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    port: int | None = None

    @classmethod
    def spawn(cls, name: str, args: list[str], env: dict[str, str], logs: Path) -> Process:
        log_path = logs / f"{name}.log"
        log = log_path.open("ab")
        command = [sys.executable, "-m", "mdbridge", "--log-level", "INFO", *args]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return cls(name, process, log, log_path)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def wait_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    response = await http.get(f"http://127.0.0.1:{self.port}/readyz")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{self.name} not ready: {self.tail()}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def process_env(cluster: NatsCluster, user: str, **settings: str | int) -> dict[str, str]:
    """The environment of an mdbridge child: the cluster's URLs and its role's NATS user."""
    env = dict(os.environ, MDBRIDGE_NATS_URL=cluster.url, MDBRIDGE_NATS_USER=user)
    env["MDBRIDGE_NATS_PASSWORD"] = PASSWORDS[user]
    env.update({f"MDBRIDGE_{key.upper()}": str(value) for key, value in settings.items()})
    return env


async def snapshot_size(nc: NatsClient, stream: str, timeout: float = 20.0) -> int:
    """Bytes of a JetStream snapshot of ``stream``, taken as ``nats stream backup`` does:
    the server streams chunks to an inbox, each acknowledged; an empty message ends it."""
    inbox = nc.new_inbox()
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    received = 0

    async def on_chunk(msg: Msg) -> None:
        nonlocal received
        if not msg.data:
            if not done.done():
                done.set_result(received)
            return
        received += len(msg.data)
        if msg.reply:
            await nc.publish(msg.reply, b"")

    sub = await nc.subscribe(inbox, cb=on_chunk)
    try:
        request = {"deliver_subject": inbox, "chunk_size": 64 * 1024}
        reply = await nc.request(
            f"$JS.API.STREAM.SNAPSHOT.{stream}",
            json.dumps(request).encode(),
            timeout=min(timeout, 5.0),
        )
        answer = json.loads(reply.data)
        if "error" in answer:
            raise RuntimeError(f"snapshot of {stream} refused: {answer['error']}")
        return await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()
