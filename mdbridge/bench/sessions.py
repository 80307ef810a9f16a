"""What a load-generator connection does with what it receives, per target protocol.

Counting is byte scanning, not JSON parsing: every data message carries the publisher's
``"pub_us":`` stamp exactly once, so ``bytes.count`` gives the messages of a frame and one
regex gives their latencies. Control frames (replies, status, errors) are rare and parsed.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import orjson

from mdbridge.bench._wire import WsClientProtocol
from mdbridge.bench.histogram import Histogram
from mdbridge.bench.universe import PUB_DIGITS, PUB_MARKER, quote_subject

STAMP = b'"pub_us":'
STAMP_RE = re.compile(rb'"pub_us":(\d{16})')
# the publisher's bodies start {"pub_us":<16 digits>,"symbol":"<symbol>"
STAMP_SYMBOL_RE = re.compile(rb'"pub_us":(\d{16}),"symbol":"([^"]+)"')
SYMBOL_AT = len(b',"symbol":"')
# a data message's metadata starts with its subscription id, subject and stream sequence
ACKABLE_RE = re.compile(rb'"subscription_id":"([^"]+)","subject":"[^"]*","seq":(\d+)')
DATA_PREFIX = b'{"type":"market_data"'
BATCH_PREFIX = b'{"type":"batch"'
CONTROL_MARKERS = (b'"type":"subscribe"', b'"type":"status"', b'"type":"error"')
STAMP_START = len(PUB_MARKER)
STAMP_END = STAMP_START + PUB_DIGITS


class Tally:
    """One worker's counters; the window ones reset when the parent starts measuring."""

    def __init__(self) -> None:
        self.hist = Histogram()
        # staleness: for every (connection, symbol), the age of the newest value it holds,
        # sampled through the window (sample_staleness)
        self.stale = Histogram()
        # behind: for the same samples, how long ago the value held was superseded at the
        # source (0 while it is the newest published): staleness without its floor, the
        # update interval. Needs the publisher's interval per symbol (``interval_us``, a
        # round-robin at a fixed rate); 0: not sampled.
        self.behind = Histogram()
        self.interval_us = 0
        self.holders: list[dict[bytes, bytes]] = []  # per connection: symbol -> newest stamp
        self.msgs = 0
        self.frames = 0
        self.payload_bytes = 0
        self.first_ns = 0
        self.last_ns = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.heartbeats = 0
        self.acked = 0
        self.ready = 0
        self.failed = 0
        self.recovered: list[Any] = []
        self.subscribe_sent_ns = 0  # first subscribe request: where a replay starts
        self.ready_wanted = 1 << 62  # set once the connections are open
        self.all_ready = asyncio.Event()
        # counted runs (resume, ack): report the moment ``expect`` messages or an error arrived
        self.expect = 0
        self.on_done: Callable[[], None] | None = None

    def reset_window(self) -> None:
        self.hist = Histogram()
        self.stale = Histogram()
        self.behind = Histogram()
        self.msgs = self.frames = self.payload_bytes = 0
        self.first_ns = self.last_ns = 0
        self.heartbeats = self.acked = 0

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:300])
        self._finish()

    def _finish(self) -> None:
        if self.on_done is not None and self.expect:
            done, self.on_done = self.on_done, None
            done()

    def sample_staleness(self, now_us: int) -> None:
        add, interval = self.stale.add, self.interval_us
        behind = self.behind.add if interval else None
        for held in self.holders:
            for stamp in held.values():
                age = now_us - int(stamp)
                add(age)
                if behind is not None:
                    # the next value of this symbol was published one interval after this one
                    behind(age - interval if age > interval else 0)

    def record(self, stamps: list[bytes], recv_ns: int) -> None:
        """Latency of each stamped message received at ``recv_ns``."""
        recv_us = recv_ns // 1000
        add = self.hist.add
        for stamp in stamps:
            add(recv_us - int(stamp))
        self.msgs += len(stamps)
        if not self.first_ns:
            self.first_ns = recv_ns
        self.last_ns = recv_ns
        if self.expect and self.msgs >= self.expect:
            self._finish()


class Session(ABC):
    """Base: one connection's protocol state. ``ready`` once subscribed (or just open)."""

    def __init__(self, tally: Tally, symbols: list[str], extra: dict[str, Any]) -> None:
        self.tally = tally
        self.symbols = symbols
        self.extra = extra
        self.ws: WsClientProtocol | None = None
        self.is_ready = False
        self.closed = False
        self.held: dict[bytes, bytes] = {}  # symbol -> stamp of the newest value received
        tally.holders.append(self.held)

    def mark_ready(self) -> None:
        if not self.is_ready:
            self.is_ready = True
            tally = self.tally
            tally.ready += 1
            if tally.ready >= tally.ready_wanted:
                tally.all_ready.set()

    def on_open(self, ws: WsClientProtocol) -> None:
        self.ws = ws

    @abstractmethod
    def on_message(self, data: bytes, recv_ns: int) -> None:
        """One received frame, stamped at ``recv_ns``."""

    def on_close(self, code: int | None, error: str | None) -> None:
        self.closed = True
        if code not in (None, 1000) or error:
            self.tally.error(f"closed: code={code} error={error}")


class BridgeSession(Session):
    """mdbridge's protocol (and the broadcaster peer, which speaks a subset of it)."""

    announces = True  # mdbridge sends ``status connected`` first; the peer does not

    def __init__(self, tally: Tally, symbols: list[str], extra: dict[str, Any]) -> None:
        super().__init__(tally, symbols, extra)
        self.ack = bool(extra.get("ack"))
        self.acked: dict[bytes, int] = {}  # subscription id -> highest sequence acknowledged
        self.unacked = 0  # data messages received since the last ack

    def on_open(self, ws: WsClientProtocol) -> None:
        super().on_open(ws)
        if self.symbols:
            request = {"symbols": self.symbols, "data_type": "quote", "snapshot": False}
            request.update(self.extra)
            if not self.tally.subscribe_sent_ns:
                self.tally.subscribe_sent_ns = time.time_ns()
            ws.send_text(orjson.dumps({"type": "subscribe", "id": "s1", "data": request}))
        elif not self.announces:
            self.mark_ready()

    def on_message(self, data: bytes, recv_ns: int) -> None:
        tally = self.tally
        tally.frames += 1
        tally.payload_bytes += len(data)
        if STAMP in data:
            pairs = STAMP_SYMBOL_RE.findall(data)
            held = self.held
            for stamp, symbol in pairs:
                held[symbol] = stamp
            stamps = [stamp for stamp, _ in pairs]
            tally.record(stamps, recv_ns)
            if self.ack:
                self.unacked += len(stamps)
                self._ack(data)
            if data.startswith(DATA_PREFIX):
                return
            if data.startswith(BATCH_PREFIX) and not any(m in data for m in CONTROL_MARKERS):
                return
        frame = orjson.loads(data)
        inner = frame["data"] if frame.get("type") == "batch" else [frame]
        for item in inner:
            self._control(item)

    def _control(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        data = frame.get("data") or {}
        if kind == "subscribe":
            subs = data.get("subscriptions", [])
            bad = [s for s in subs if s.get("status") not in ("subscribed", "already_subscribed")]
            for sub in bad:
                self.tally.error(f"subscribe: {sub.get('code')} {sub.get('message')}")
            self.mark_ready()
        elif kind == "status":
            event = data.get("event")
            if event == "connected" and not self.symbols:
                self.mark_ready()
            elif event == "heartbeat":
                self.tally.heartbeats += 1
            elif event == "recovered":
                self.tally.recovered.append(data)
        elif kind == "error":
            self.tally.error(f"error: {data.get('code')} {data.get('message')}")
            self.mark_ready()  # a refused subscribe is an answer too

    def _ack(self, data: bytes) -> None:
        """Per subscription, acknowledge the frame's highest sequence (acks are cumulative)."""
        top: dict[bytes, int] = {}
        for sub_id, seq in ACKABLE_RE.findall(data):
            top[sub_id] = max(top.get(sub_id, 0), int(seq))
        if self.ws is None or not top:
            return
        for sub_id, seq in top.items():
            if seq > self.acked.get(sub_id, 0):
                self.acked[sub_id] = seq
                ack = {"subscription_id": sub_id.decode(), "seq": seq}
                self.ws.send_text(orjson.dumps({"type": "ack", "data": ack}))
        self.tally.acked += self.unacked  # everything received so far is covered
        self.unacked = 0


class PeerSession(BridgeSession):
    announces = False


class NatsSession(Session):
    """NATS client protocol over WebSocket, straight to nats-server: the no-bridge limit.

    The stream is split on CRLF: bench payloads are single-line JSON, so every ``{``
    line is a message body and the ``MSG`` line before it can be skipped.
    """

    def __init__(self, tally: Tally, symbols: list[str], extra: dict[str, Any]) -> None:
        super().__init__(tally, symbols, extra)
        self._rest = b""
        self._connected = False

    def on_message(self, data: bytes, recv_ns: int) -> None:
        tally = self.tally
        tally.frames += 1
        tally.payload_bytes += len(data)
        buf = self._rest + data if self._rest else data
        lines = buf.split(b"\r\n")
        self._rest = lines.pop()
        stamps: list[bytes] = []
        held = self.held
        for line in lines:
            first = line[:1]
            if first == b"{":
                stamp = line[STAMP_START:STAMP_END]
                stamps.append(stamp)
                at = STAMP_END + SYMBOL_AT
                held[line[at : line.find(b'"', at)]] = stamp
            elif first == b"M" or first == b"+":
                continue
            elif line == b"PING":
                self._send(b"PONG\r\n")
                tally.heartbeats += 1
            elif line == b"PONG":
                self.mark_ready()
            elif line.startswith(b"INFO"):
                self._subscribe()
            elif line.startswith(b"-ERR"):
                tally.error(line.decode(errors="replace"))
        if stamps:
            tally.record(stamps, recv_ns)

    def _subscribe(self) -> None:
        if self._connected:
            return
        self._connected = True
        options = {"verbose": False, "pedantic": False, "protocol": 1, "echo": False}
        lines = [b"CONNECT " + orjson.dumps(options | {"name": "mdbridge-bench"})]
        lines += [f"SUB {quote_subject(s)} {i + 1}".encode() for i, s in enumerate(self.symbols)]
        lines.append(b"PING")
        self._send(b"\r\n".join(lines) + b"\r\n")

    def _send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send_binary(data)


SESSIONS: dict[str, type[Session]] = {
    "mdbridge": BridgeSession,
    "broadcaster": PeerSession,
    "nats": NatsSession,
}
