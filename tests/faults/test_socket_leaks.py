"""Sockets a client makes the bridge hold are all given back: finding 4 of issue 14.

The bridge runs as a real process; its open file descriptors are counted in /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.faults.conftest import SYMBOLS
from tests.support.market import payload_for
from tests.support.processes import BridgeProcess
from tests.support.slowreader import SlowReader

SLACK_FDS = 3  # a NATS reconnect or a log rotation may hold one or two for a moment
PADDING = "x" * 4000


def open_fds(bridge: BridgeProcess) -> int:
    assert bridge.process is not None
    return len(os.listdir(f"/proc/{bridge.process.pid}/fd"))


async def settle_at(bridge: BridgeProcess, at_most: int, timeout: float) -> int:
    """Wait until the bridge holds at most ``at_most`` descriptors; the last count."""
    for _ in range(int(timeout * 10)):
        if open_fds(bridge) <= at_most:
            break
        await asyncio.sleep(0.1)
    return open_fds(bridge)


async def rise_to(bridge: BridgeProcess, at_least: int, timeout: float) -> int:
    """Wait until the bridge holds at least ``at_least`` descriptors (accepts are async)."""
    for _ in range(int(timeout * 10)):
        if open_fds(bridge) >= at_least:
            break
        await asyncio.sleep(0.1)
    return open_fds(bridge)


async def padded_burst(nc: NatsClient, data_type: DataType, symbol: str, count: int) -> None:
    subject = data_subject(data_type, symbol)
    body = orjson.dumps(payload_for(data_type, symbol, 10) | {"padding": PADDING})
    for i in range(count):
        await nc.publish(subject, body)
        if i % 100 == 99:
            await nc.flush()
    await nc.flush()


async def stalled_readers(bridge: BridgeProcess, n: int, data_type: DataType) -> list[SlowReader]:
    readers = []
    for i in range(n):
        reader = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
        request = {"symbol": SYMBOLS[0], "data_type": data_type.value, "snapshot": False}
        await reader.send("subscribe", request, f"s{i}")
        readers.append(reader)
    await asyncio.sleep(0.3)
    return readers


def start_bridge(broker: NatsServer, tmp_path: Path, **settings: object) -> BridgeProcess:
    return BridgeProcess(broker.url, tmp_path, "bridge", **settings).start()


async def test_fds_return_to_baseline_after_ten_rounds_of_stalled_clients(
    broker: NatsServer, broker_nc: NatsClient, tmp_path: Path
) -> None:
    bridge = start_bridge(
        broker,
        tmp_path,
        max_connections_per_ip=20,
        queue_max_bytes=64 * 1024,
        send_timeout_s=1.0,
        close_timeout_s=0.5,
    )
    held: list[SlowReader] = []
    try:
        await asyncio.sleep(0.5)
        baseline = open_fds(bridge)
        counts = []
        for _ in range(10):
            # Trades are never conflated: each stalled reader overflows and is dropped (4009)
            # while it keeps its end open and reads nothing.
            readers = await stalled_readers(bridge, 20, DataType.TRADE)
            held += readers
            assert open_fds(bridge) >= baseline + 20 - 1  # really open (a transient fd aside)
            await padded_burst(broker_nc, DataType.TRADE, SYMBOLS[0], 300)  # ~1.2 MB each
            began = time.monotonic()
            # dropped within send_timeout_s + close_timeout_s, cut by then: not uvicorn's 10 s
            counts.append(await settle_at(bridge, baseline + SLACK_FDS, 5))
            print(f"round: {counts[-1]} fds (baseline {baseline}) {time.monotonic() - began:.1f} s")
        assert max(counts) <= baseline + SLACK_FDS, f"baseline {baseline}, after rounds {counts}"
        assert bridge.ready()  # still serving
    finally:
        for reader in held:
            reader.close()
        bridge.stop()


async def test_a_connection_that_never_finishes_its_handshake_is_cut(
    broker: NatsServer, broker_nc: NatsClient, tmp_path: Path
) -> None:
    bridge = start_bridge(broker, tmp_path, handshake_timeout_s=3.0)
    loop = asyncio.get_running_loop()
    idle: list[socket.socket] = []
    try:
        baseline = open_fds(bridge)
        for i in range(40):
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", bridge.port))
            if i % 2:  # half send a request line and never finish the headers
                await loop.sock_sendall(sock, b"GET /ws HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        # the baseline may include a transient descriptor (the readiness probe's socket)
        held = await rise_to(bridge, baseline + 40 - SLACK_FDS, 2.5)
        assert held >= baseline + 40 - SLACK_FDS, f"baseline {baseline}, 40 idle sockets: {held}"
        left = await settle_at(bridge, baseline + SLACK_FDS, 6)
        assert left <= baseline + SLACK_FDS, f"baseline {baseline}, after the timeout {left}"
        for sock in idle:  # and each was cut by the bridge: end of stream or a reset
            async with asyncio.timeout(2):
                with contextlib.suppress(ConnectionResetError):
                    assert await loop.sock_recv(sock, 1024) == b""
    finally:
        for sock in idle:
            sock.close()
        bridge.stop()


async def test_sockets_without_a_session_count_against_the_per_ip_limit(
    broker: NatsServer, broker_nc: NatsClient, tmp_path: Path
) -> None:
    # max_connections_per_ip 5 allows 5 WebSockets + 10 (SOCKET_HEADROOM) other sockets.
    bridge = start_bridge(broker, tmp_path, max_connections_per_ip=5, handshake_timeout_s=30)
    loop = asyncio.get_running_loop()
    idle: list[socket.socket] = []
    try:
        baseline = open_fds(bridge)
        for _ in range(40):
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", bridge.port))
            idle.append(sock)
        await asyncio.sleep(0.5)
        assert open_fds(bridge) <= baseline + 15 + SLACK_FDS
        refused = 0
        for sock in idle:
            try:
                async with asyncio.timeout(0.2):
                    data = await loop.sock_recv(sock, 1024)
            except TimeoutError:
                continue  # held: one of the 15
            except ConnectionResetError:
                data = b""
            refused += 1
            assert data == b"" or data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert refused == 40 - 15
        # The address is at its limit: a WebSocket is refused until the idle sockets go.
        try:
            await SlowReader.open(bridge.ws_url)
            opened = True
        except Exception:
            opened = False
        assert not opened
        for sock in idle:
            sock.close()
        await settle_at(bridge, baseline + SLACK_FDS, 5)
        reader = await SlowReader.open(bridge.ws_url)
        assert (await reader.recv())["data"]["event"] == "connected"  # type: ignore[index]
        reader.close()
    finally:
        for sock in idle:
            sock.close()
        bridge.stop()


async def _sigterm_exit_s(bridge: BridgeProcess, before: Callable[[], Awaitable[None]]) -> float:
    await before()
    began = time.monotonic()
    bridge.signal(signal.SIGTERM)
    await asyncio.to_thread(bridge.wait, 60)
    return time.monotonic() - began


async def test_sigterm_exits_within_the_grace_with_three_stalled_clients(
    broker: NatsServer, broker_nc: NatsClient, tmp_path: Path
) -> None:
    grace = 4.0
    bridge = start_bridge(broker, tmp_path, shutdown_grace_s=grace)
    held: list[SlowReader] = []

    async def stall() -> None:
        held.extend(await stalled_readers(bridge, 3, DataType.QUOTE))
        await padded_burst(broker_nc, DataType.QUOTE, SYMBOLS[0], 1000)  # ~4 MB each
        await asyncio.sleep(1.0)

    try:
        took = await _sigterm_exit_s(bridge, stall)
        assert bridge.process is not None
        assert bridge.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises it
        print(f"SIGTERM with 3 stalled clients: exited in {took:.2f} s (grace {grace:g} s)")
        assert took <= grace + 0.5, f"exited {took:.2f} s after SIGTERM, grace {grace} s"
    finally:
        for reader in held:
            reader.close()
        bridge.stop()


async def test_a_stalled_quote_reader_is_closed_then_cut_after_the_deadlines(
    broker: NatsServer, broker_nc: NatsClient, tmp_path: Path
) -> None:
    # Quotes conflate, so the queue never overflows: the watchdog (send_timeout_s) ends the
    # connection, and the socket is cut close_timeout_s later as the peer takes nothing.
    bridge = start_bridge(broker, tmp_path, send_timeout_s=1.0, close_timeout_s=0.5)
    held: list[SlowReader] = []
    try:
        baseline = open_fds(bridge)
        held += await stalled_readers(bridge, 10, DataType.QUOTE)
        assert open_fds(bridge) >= baseline + 10 - 1  # the baseline may hold a transient fd
        await padded_burst(broker_nc, DataType.QUOTE, SYMBOLS[0], 1000)  # ~4 MB each
        began = time.monotonic()
        left = await settle_at(bridge, baseline + SLACK_FDS, 10)
        took = time.monotonic() - began
        assert left <= baseline + SLACK_FDS, f"baseline {baseline}, {left} after 10 s"
        print(f"stalled quote readers cut {took:.1f} s after the burst")
        assert took <= 1.0 + 0.5 + 2.0  # the two deadlines, the watchdog period, slack
        log = bridge.log_path.read_text()
        assert log.count("closing a connection that stopped reading") == 10
    finally:
        for reader in held:
            reader.close()
        bridge.stop()
