"""Stacks compared (issue 20): WebSocket fan-out servers and NATS subscribers side by side.

Run (each case under the machine's bench lock, rounds alternate the variants):

    flock /work/tools/bench.lock .venv/bin/python scripts/bench_stacks.py ws \\
        --clients 200 --frames 2000 --rounds 3
    flock /work/tools/bench.lock .venv/bin/python scripts/bench_stacks.py nats \\
        --messages 100000 --rounds 3

``ws``: one server process, N clients (one load-generator process: the bench's own cheap
client, mdbridge/bench/_wire.py) that all receive the same M ~300-byte JSON text frames.
A client's ``go M B`` starts the broadcast; the producer hands out B messages per event-loop
turn (``--burst``, 20 by default: how many frames a connection gets per turn) and waits while
a connection holds more than 1 MiB unsent, the same rule for every variant.
Server CPU (utime+stime from /proc, the server's whole process tree) is read just before
``go`` and once the last frame has arrived; delivered frames/s is measured by the clients
from ``go`` to their last frame. Variants:

* ``starlette``: today's bridge shape: uvicorn (websockets-sansio, uvloop) + Starlette, one
  writer task per connection awaiting ``websocket.send_text`` for each queued message;
* ``direct-task``: the same app and server and the same writer tasks, but each frame's bytes
  are built once (server frames are unmasked) and the writer writes them to its connection's
  transport, one write per frame, reached as the bridge reaches it (the
  ``mdbridge.transport`` scope extension, bridge/core/sockets.py): what the ASGI send costs;
* ``direct``: the producer writes the frame straight to every transport that is writable and
  has no backlog; a paused or behind connection queues it, and its writer task sends the
  whole backlog in one write when the transport resumes (the "frame once" design of issue 20);
* ``direct-burst``: as ``direct``, but a connection's frames of one producer turn (B
  messages) go out in one write: the kernel's share when writes are coalesced, no protocol
  change (the client still reads one frame per message);
* ``granian``: the ``starlette`` app served by granian (ASGI, one worker, uvloop);
* ``picows``: picows' own server, ``WSTransport.send`` per connection, held while paused.

Every variant honours the transport's flow control (uvloop's default 64 KiB high-water
mark: a paused connection is not written to) and keeps any further backlog in user space.

``nats``: a raw-socket publisher process pushes M core-NATS messages at full speed, once
plain (MSG) and once as a JetStream push delivery looks (HMSG: the two headers adapters send,
``Nats-Msg-Id`` and ``traceparent``, and a reply subject as long as a ``$JS.ACK`` one); the
subscriber process counts them. CPU is the subscriber's. Variants: ``natspy`` (nats-py 2.x,
callback), ``bridge`` (nats-py with the bridge's parser, bridge/core/natsclient.py),
``natscore`` (the new official client, nats-core's ``nats.client``, ``async for`` over the
subscription).

Prints one JSON line per run, then a Markdown table of medians. Results and decisions:
docs/benchmarks.md, "Stacks compared (issue 20), 2026-12-05".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # mdbridge and bridge, when run as a script

WS_VARIANTS = ("starlette", "direct-task", "direct", "direct-burst", "granian", "picows")
NATS_VARIANTS = ("natspy", "bridge", "natscore")
NEEDS = {"granian": "granian", "picows": "picows", "natscore": "nats.client"}
TRANSPORT_EXTENSION = "mdbridge.transport"  # as bridge/core/sockets.py names it
WRITABLE_EXTENSION = "bench.writable"  # uvicorn's flow-control event, for the direct writers
BURST = 20  # messages handed out per event-loop turn (--burst)
MAX_UNSENT = 1 << 20  # bytes (or queued bytes) per connection before the producer waits
SUBJECT = "bench.stacks.quote"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def quote(seq: int) -> bytes:
    """A ~300-byte quote, shaped like the bridge's market_data frames."""
    return orjson.dumps(
        {
            "type": "market_data",
            "subscription_id": "s1",
            "subject": "md.quote.SH.600000",
            "seq": seq,
            "data": {
                "symbol": "600000.SH",
                "ts": 1_764_900_000_000 + seq,
                "last": 10.01,
                "open": 9.98,
                "high": 10.05,
                "low": 9.95,
                "pre_close": 9.99,
                "volume": 1_234_500 + seq,
                "amount": 12_345_678.9,
                "bid": [10.0, 9.99, 9.98, 9.97, 9.96],
                "ask": [10.01, 10.02, 10.03, 10.04, 10.05],
            },
        }
    )


def server_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (RFC 6455 5.2): what a server sends."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def available(variant: str) -> bool:
    module = NEEDS.get(variant)
    if module is None:
        return True
    with contextlib.suppress(ModuleNotFoundError):
        return importlib.util.find_spec(module) is not None
    return False


# -- the fan-out servers ----------------------------------------------------------------------


class Member:
    """One connection of the uvicorn/granian app: a queue and a writer, as the bridge has."""

    __slots__ = ("items", "mode", "queued", "ready", "transport", "writable")

    def __init__(self, mode: str, transport: Any, writable: asyncio.Event | None) -> None:
        self.mode = mode  # a value of APP_MODES
        self.items: deque[Any] = deque()  # str to send_text, or frame bytes to write
        self.queued = 0
        self.ready = asyncio.Event()
        self.transport = transport  # None: write through the ASGI send
        self.writable = writable  # uvicorn's: cleared while the transport is paused

    def unsent(self) -> int:
        if self.transport is None:
            return self.queued
        return self.queued + int(self.transport.get_write_buffer_size())

    def push(self, item: str | bytes) -> None:
        self.items.append(item)
        self.queued += len(item)
        self.ready.set()


APP_MODES = {
    "starlette": "send",
    "direct": "direct",
    "direct-task": "direct-task",
    "direct-burst": "direct-burst",
}
MEMBERS: set[Member] = set()
BACKGROUND: set[asyncio.Task[None]] = set()


async def produce(
    frames: int,
    burst: int,
    hand_out: Callable[[bytes], None],
    unsent: Callable[[], int],
    flush: Callable[[], None] | None = None,
) -> None:
    for seq in range(frames):
        hand_out(quote(seq))
        if seq % burst == burst - 1 or seq == frames - 1:
            if flush is not None:
                flush()
            await asyncio.sleep(0)
            # every variant polls its own measure of unsent bytes: one rule for all
            while unsent() > MAX_UNSENT:  # noqa: ASYNC110
                await asyncio.sleep(0.001)


def spawn(coroutine: Any) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    BACKGROUND.add(task)
    task.add_done_callback(BACKGROUND.discard)


def start_broadcast(frames: int, burst: int) -> None:
    members = list(MEMBERS)
    mode = members[0].mode if members else "send"

    def write_or_queue(payload: bytes) -> None:
        frame = server_frame(payload)  # built once, written to every socket
        for member in members:
            assert member.writable is not None
            if member.items or not member.writable.is_set():
                member.push(frame)  # paused, or behind: its writer sends the backlog
            elif not member.transport.is_closing():
                member.transport.write(frame)

    def queue_each(payload: bytes) -> None:
        item = payload.decode() if mode == "send" else server_frame(payload)
        for member in members:
            member.push(item)

    def queue_frames(payload: bytes) -> None:
        frame = server_frame(payload)
        for member in members:
            member.items.append(frame)
            member.queued += len(frame)

    def flush_bursts() -> None:
        for member in members:
            assert member.writable is not None
            if not member.items:
                continue
            if member.writable.is_set() and not member.transport.is_closing():
                member.transport.write(b"".join(member.items))  # the turn's frames at once
                member.items.clear()
                member.queued = 0
            else:
                member.ready.set()  # paused: its writer sends the backlog on resume

    def unsent() -> int:
        return max((m.unsent() for m in members), default=0)

    if mode == "direct-burst":
        spawn(produce(frames, burst, queue_frames, unsent, flush_bursts))
    else:
        hand_out = write_or_queue if mode == "direct" else queue_each
        spawn(produce(frames, burst, hand_out, unsent))


async def write_loop(websocket: Any, member: Member) -> None:
    """The connection's writer; every mode waits while the transport is paused."""
    transport, writable, items = member.transport, member.writable, member.items
    while True:
        await member.ready.wait()
        member.ready.clear()
        if writable is None:  # send: uvicorn's send waits for writable itself
            while items:
                text = items.popleft()
                member.queued -= len(text)
                await websocket.send_text(text)
        elif member.mode == "direct-task":  # one write per frame, as send_text does
            while items:
                await writable.wait()
                frame = items.popleft()
                member.queued -= len(frame)
                if not transport.is_closing():
                    transport.write(frame)
        else:  # direct: the backlog in one write once the socket takes more
            while items:
                await writable.wait()
                backlog = b"".join(items)
                items.clear()
                member.queued = 0
                if not transport.is_closing():
                    transport.write(backlog)


def make_app(mode: str) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def fanout(websocket: WebSocket) -> None:
        await websocket.accept()
        transport = writable = None
        if mode != "send":
            extensions = websocket.scope.get("extensions", {})
            transport = extensions.get(TRANSPORT_EXTENSION)
            writable = extensions.get(WRITABLE_EXTENSION)
            if transport is None or writable is None:
                raise RuntimeError(f"{mode} needs the {TRANSPORT_EXTENSION} scope extension")
        member = Member(mode, transport, writable)
        MEMBERS.add(member)
        writer = asyncio.create_task(write_loop(websocket, member))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text") or ""
                if text.startswith("go "):
                    start_broadcast(*map(int, text.split()[1:]))
        finally:
            MEMBERS.discard(member)
            writer.cancel()

    return Starlette(routes=[WebSocketRoute("/ws", fanout)])


app = make_app("send")  # granian imports this one: `bench_stacks:app`


def serve_uvicorn(port: int, mode: str) -> None:
    import uvicorn
    import uvloop
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    class TransportProtocol(WebSocketsSansIOProtocol):
        """uvicorn's protocol, handing its transport to the app as the bridge's does."""

        async def run_asgi(self) -> None:
            scope: Any = self.scope
            extensions = scope.setdefault("extensions", {})
            extensions[TRANSPORT_EXTENSION] = self.transport
            extensions[WRITABLE_EXTENSION] = self.writable  # set/cleared on resume/pause
            await super().run_asgi()

    config = uvicorn.Config(
        make_app(mode),
        host="127.0.0.1",
        port=port,
        ws=TransportProtocol,
        loop="none",
        log_level="warning",
        lifespan="off",
    )
    uvloop.run(uvicorn.Server(config).serve())


def serve_picows(port: int) -> None:
    import uvloop

    picows: Any = importlib.import_module("picows")
    connected: set[Any] = set()  # listeners, one per connection
    text_type = picows.WSMsgType.TEXT

    def on_connected(self: Any, transport: Any) -> None:
        self.transport, self.paused, self.backlog, self.queued = transport, False, deque(), 0
        connected.add(self)

    def on_disconnected(self: Any, transport: Any) -> None:
        connected.discard(self)

    def pause_writing(self: Any) -> None:
        self.paused = True

    def resume_writing(self: Any) -> None:
        self.paused = False
        while self.backlog and not self.paused:
            payload = self.backlog.popleft()
            self.queued -= len(payload)
            self.transport.send(text_type, payload)

    def hand_out_to(members: list[Any]) -> Callable[[bytes], None]:
        def hand_out(payload: bytes) -> None:
            for member in members:
                if member.paused or member.backlog:
                    member.backlog.append(payload)  # sent from resume_writing
                    member.queued += len(payload)
                else:
                    member.transport.send(text_type, payload)

        return hand_out

    def on_frame(self: Any, transport: Any, frame: Any) -> None:
        if frame.msg_type == text_type:
            text = frame.get_payload_as_ascii_text()
            if text.startswith("go "):
                members = list(connected)

                def unsent() -> int:
                    sizes = (
                        m.queued + m.transport.underlying_transport.get_write_buffer_size()
                        for m in members
                    )
                    return max(sizes, default=0)

                frames, burst = map(int, text.split()[1:])
                spawn(produce(frames, burst, hand_out_to(members), unsent))
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    listener = type(
        "FanoutListener",
        (picows.WSListener,),
        {
            "on_ws_connected": on_connected,
            "on_ws_disconnected": on_disconnected,
            "on_ws_frame": on_frame,
            "pause_writing": pause_writing,
            "resume_writing": resume_writing,
        },
    )

    async def main() -> None:
        server = await picows.ws_create_server(lambda _request: listener(), "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


# -- the load generator ---------------------------------------------------------------------


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Counter:
    def __init__(self, want: int) -> None:
        self.want = want
        self.frames = 0
        self.bad = 0
        self.last_ns = 0
        self.done = asyncio.Event()

    def on_open(self, ws: Any) -> None:
        return None

    def on_message(self, data: bytes, recv_ns: int) -> None:
        if not data.startswith(b'{"type":"market_data"'):
            self.bad += 1
        self.frames += 1
        self.last_ns = recv_ns
        if self.frames >= self.want:
            self.done.set()

    def on_close(self, code: int | None, error: str | None) -> None:
        return None


async def load(port: int, clients: int, timeout: float) -> None:
    from mdbridge.bench._wire import WsClientProtocol

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    counter = Counter(0)
    protocols: list[WsClientProtocol] = []
    slots = asyncio.Semaphore(50)

    async def open_one() -> None:
        async with slots:
            _, proto = await loop.create_connection(
                lambda: WsClientProtocol("127.0.0.1", port, "/ws", counter), "127.0.0.1", port
            )
            await asyncio.wait_for(proto.opened, 30)
            protocols.append(proto)

    await asyncio.gather(*(open_one() for _ in range(clients)))
    await asyncio.sleep(0.2)  # let the server register the last sessions
    emit("connected", clients=len(protocols))
    start = (await reader.readline()).decode().strip()  # go <frames> <burst>
    counter.want = int(start.split()[1]) * clients
    began, cpu_began = time.time_ns(), time.process_time()
    protocols[0].send_text(start)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counter.done.wait(), timeout)
    window_s = max(counter.last_ns - began, 1) / 1e9
    emit(
        "done",
        frames=counter.frames,
        wanted=counter.want,
        bad=counter.bad,
        window_s=window_s,
        cpu_s=time.process_time() - cpu_began,
    )
    for proto in protocols:
        proto.abort()


# -- the NATS cases -------------------------------------------------------------------------


def nats_publish(url: str, count: int, headers: bool) -> None:
    """Pre-built PUB/HPUB commands written to a plain socket: cheaper than any client."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    chunk_size = 1000
    commands = []
    for i in range(chunk_size):
        body = quote(i)
        if headers:
            head = f"NATS/1.0\r\nNats-Msg-Id: q{i}\r\ntraceparent: {TRACEPARENT}\r\n\r\n".encode()
            size = len(head) + len(body)
            # a JetStream ack subject's length ($JS.ACK... itself is refused to a publisher)
            reply = f"_INBOX.JSACK.MD_QUOTE.c1.1.{i + 1}.{i + 1}.1764900000000000000.0"
            line = f"HPUB {SUBJECT} {reply} {len(head)} {size}\r\n"
            commands.append(line.encode() + head + body + b"\r\n")
        else:
            commands.append(f"PUB {SUBJECT} {len(body)}\r\n".encode() + body + b"\r\n")
    chunk = b"".join(commands)
    with socket.create_connection((host, int(port))) as sock:
        sock.recv(65536)  # INFO
        options = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1}
        sock.sendall(b"CONNECT " + orjson.dumps(options) + b"\r\nPING\r\n")
        sent = 0
        while sent < count:
            part = min(chunk_size, count - sent)
            sock.sendall(chunk if part == chunk_size else b"".join(commands[:part]))
            sent += part
        sock.sendall(b"PING\r\n")
        seen = b""
        while seen.count(b"PONG") < 2:
            seen += sock.recv(65536)
        if b"-ERR" in seen:
            raise SystemExit(f"nats-server refused the publisher: {seen[-300:]!r}")


async def nats_subscribe(variant: str, url: str, count: int, timeout: float) -> None:
    done = asyncio.Event()
    state = {"n": 0, "bytes": 0, "headers": 0, "replies": 0, "first": 0, "last": 0}

    def seen(data: bytes, headers: Any, reply: Any) -> None:
        n = state["n"] = state["n"] + 1
        if n == 1:
            state["first"] = time.perf_counter_ns()
        state["bytes"] += len(data)
        if headers:
            state["headers"] += 1
        if reply:
            state["replies"] += 1
        if n >= count:
            state["last"] = time.perf_counter_ns()
            done.set()

    consumer: asyncio.Task[None] | None = None
    if variant == "natscore":
        client_module: Any = importlib.import_module("nats.client")
        client = await client_module.connect(url)
        subscription = await client.subscribe(
            SUBJECT, max_pending_messages=None, max_pending_bytes=None
        )

        async def consume() -> None:
            async for message in subscription:
                seen(message.data, message.headers, message.reply)
                if done.is_set():
                    break  # not cancelled: its cancel path needs Python 3.13 too

        consumer = asyncio.create_task(consume())
    else:
        if variant == "bridge":
            from bridge.core.natsclient import connect
        else:
            from nats import connect
        client = await connect(servers=[url])

        async def on_message(message: Any) -> None:
            seen(message.data, message.headers, message.reply)

        await client.subscribe(SUBJECT, cb=on_message)
    await client.flush()
    emit("ready")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    window_s = max(state["last"] - state["first"], 1) / 1e9
    emit(
        "done",
        received=state["n"],
        with_headers=state["headers"],
        with_reply=state["replies"],
        window_s=window_s,
    )
    if consumer is not None:
        consumer.cancel()
        # nats-core's close() calls asyncio.Queue.shutdown, new in Python 3.13: on 3.11 it
        # raises after the subscription is gone (one reason it requires 3.13)
        with contextlib.suppress(AttributeError):
            await client.close()
    else:
        await client.close()


# -- the parent -----------------------------------------------------------------------------


class ChildProcess:
    """A child started with this script (or granian), its stdout read as JSON events."""

    def __init__(self, argv: list[str], *, stdin: bool = False) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.events.put(json.loads(line))
        self.events.put(None)

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
            if event is None:
                raise RuntimeError(f"{self.process.args!r} exited before {name!r}")
            if event.get("event") == name:
                return event

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdin is not None:
            self.process.stdin.close()


def tree_cpu_s(pid: int) -> float:
    """utime+stime of a process and its descendants (granian's worker is a child)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def server_argv(variant: str, port: int) -> list[str]:
    if variant == "granian":
        granian = Path(sys.executable).with_name("granian")
        return [
            str(granian),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-log",
            "--working-dir",
            str(ROOT / "scripts"),
            "bench_stacks:app",
        ]
    return [sys.executable, __file__, f"_serve-{variant}", str(port)]


def run_ws(variant: str, clients: int, frames: int, burst: int, timeout: float) -> dict[str, Any]:
    from mdbridge.natsserver import free_port

    port = free_port()
    server = ChildProcess(server_argv(variant, port))
    load_gen = None
    try:
        wait_port(port, 30)
        argv = [sys.executable, __file__, "_load", str(port), str(clients), str(timeout)]
        load_gen = ChildProcess(argv, stdin=True)
        connected = load_gen.wait_event("connected", 120)
        assert connected["clients"] == clients, connected
        cpu0, wall0 = tree_cpu_s(server.process.pid), time.monotonic()
        load_gen.send(f"go {frames} {burst}")
        done = load_gen.wait_event("done", timeout + 30)
        cpu = tree_cpu_s(server.process.pid) - cpu0
        wall = time.monotonic() - wall0
    finally:
        if load_gen is not None:
            load_gen.stop()
        server.stop()
    delivered = int(done["frames"])
    return {
        "case": f"ws, {burst} per turn",
        "variant": variant,
        "clients": clients,
        "frames": frames,
        "delivered": delivered,
        "wanted": done["wanted"],
        "bad": done["bad"],
        "frames_per_s": round(delivered / done["window_s"]),
        "server_cpu_us_per_frame": round(cpu * 1e6 / max(delivered, 1), 2),
        "server_cpu_share": round(cpu / wall, 2),
        # near 1.0: the one load-generator process, not the server, set frames_per_s
        "loadgen_cpu_share": round(done["cpu_s"] / done["window_s"], 2),
    }


def run_nats(variant: str, messages: int, headers: bool, timeout: float) -> dict[str, Any]:
    import tempfile

    from mdbridge.natsserver import NatsServer, free_port

    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "js", port=free_port()).start()
        subscriber = None
        try:
            argv = [sys.executable, __file__, "_sub", variant, server.url, str(messages)]
            subscriber = ChildProcess([*argv, str(timeout)])
            subscriber.wait_event("ready", 60)
            cpu0 = tree_cpu_s(subscriber.process.pid)
            pub_argv = [sys.executable, __file__, "_pub", server.url, str(messages)]
            publisher = subprocess.run(
                [*pub_argv, "1" if headers else "0"], cwd=ROOT, check=True, timeout=timeout
            )
            assert publisher.returncode == 0
            done = subscriber.wait_event("done", timeout + 30)
            cpu = tree_cpu_s(subscriber.process.pid) - cpu0
        finally:
            if subscriber is not None:
                subscriber.stop()
            server.stop()
    received = int(done["received"])
    return {
        "case": "nats_hmsg" if headers else "nats_msg",
        "variant": variant,
        "messages": messages,
        "received": received,
        "with_headers": done["with_headers"],
        "with_reply": done["with_reply"],
        "msgs_per_s": round(received / done["window_s"]),
        "cpu_us_per_msg": round(cpu * 1e6 / max(received, 1), 2),
    }


def check_variants(names: Iterable[str], known: tuple[str, ...]) -> list[str]:
    chosen = list(names)
    for name in chosen:
        if name not in known:
            raise SystemExit(f"unknown variant {name!r} (known: {', '.join(known)})")
        if not available(name):
            raise SystemExit(f"variant {name!r} needs {NEEDS[name]!r}: pip install -e '.[stacks]'")
    return chosen


def table(results: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    lines = [
        "| case | variant | rounds | " + " | ".join(f"{c} (median)" for c in columns) + " |",
        "|---" * (3 + len(columns)) + "|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["case"], result["variant"]), []).append(result)
    for (case, variant), runs in groups.items():
        medians = [f"{statistics.median(r[c] for r in runs):g}" for c in columns]
        lines.append(f"| {case} | {variant} | {len(runs)} | " + " | ".join(medians) + " |")
    return "\n".join(lines)


def parent(args: argparse.Namespace) -> None:
    results: list[dict[str, Any]] = []
    if args.case == "ws":
        variants = check_variants(args.variants.split(","), WS_VARIANTS)
        for _ in range(args.rounds):
            for burst in (int(b) for b in args.burst.split(",")):
                for variant in variants:
                    result = run_ws(variant, args.clients, args.frames, burst, args.timeout)
                    print(json.dumps(result), flush=True)
                    results.append(result)
        columns: tuple[str, ...] = (
            "frames_per_s",
            "server_cpu_us_per_frame",
            "server_cpu_share",
            "loadgen_cpu_share",
        )
    else:
        variants = check_variants(args.variants.split(","), NATS_VARIANTS)
        for _ in range(args.rounds):
            for headers in (False, True):
                for variant in variants:
                    result = run_nats(variant, args.messages, headers, args.timeout)
                    print(json.dumps(result), flush=True)
                    results.append(result)
        columns = ("msgs_per_s", "cpu_us_per_msg")
    print(table(results, columns))
    short = [
        r
        for r in results
        if r.get("delivered", r.get("received")) != r.get("wanted", r.get("messages"))
    ]
    if short:
        raise SystemExit(f"{len(short)} run(s) did not deliver everything: see their lines above")


def default_variants(known: tuple[str, ...]) -> str:
    return ",".join(v for v in known if available(v))


def main() -> None:
    argv = sys.argv[1:]
    role = argv[0] if argv else ""
    if role.startswith("_serve-"):
        variant, port = role.removeprefix("_serve-"), int(argv[1])
        if variant == "picows":
            serve_picows(port)
        else:
            serve_uvicorn(port, APP_MODES[variant])
        return
    if role in ("_load", "_sub"):
        import uvloop

        if role == "_load":
            uvloop.run(load(int(argv[1]), int(argv[2]), float(argv[3])))
        else:
            uvloop.run(nats_subscribe(argv[1], argv[2], int(argv[3]), float(argv[4])))
        return
    if role == "_pub":
        nats_publish(argv[1], int(argv[2]), argv[3] == "1")
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    cases = parser.add_subparsers(dest="case", required=True)
    ws = cases.add_parser("ws", help="WebSocket fan-out servers")
    ws.add_argument("--clients", type=int, default=200)
    ws.add_argument("--frames", type=int, default=2000, help="messages each client receives")
    ws.add_argument("--variants", default=default_variants(WS_VARIANTS))
    ws.add_argument(
        "--burst", default=str(BURST), help="messages per producer turn (a list: 1,4,20)"
    )
    nats = cases.add_parser("nats", help="NATS subscribers")
    nats.add_argument("--messages", type=int, default=100_000)
    nats.add_argument("--variants", default=default_variants(NATS_VARIANTS))
    for case in (ws, nats):
        case.add_argument("--rounds", type=int, default=3)
        case.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parent(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
