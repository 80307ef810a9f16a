"""``mdbridge trace SYMBOL``: follow the next N messages of a symbol hop by hop.

docs/observability.md, "Traces", describes the hops and how to read them.

Hops, each a wall-clock time on its own machine (compare them on one host, or with NTP):

1. source       the payload's ``timestamp`` (exchange or source time)
2. adapter recv ``Mdb-Recv-Ms`` header: the adapter got it from its source
3. publish      ``Mdb-Pub-Ms`` header: the adapter handed it to NATS
4. broker       the JetStream store time of the message
5. bridge recv  the bridge's shared consumer delivered it (``metadata.trace``)
6. socket write the bridge's writer sent the frame (``metadata.trace``)
7. client recv  this tool read it

The tool is a WebSocket client of the bridge: it asks the admin API to trace its own
connection, subscribes, and reads the adapter's headers from JetStream by sequence.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import urllib.request
from datetime import datetime
from typing import Any

import orjson

from schemas import STREAM_BY_TYPE, DataType, epoch_ms_to_iso
from schemas.headers import PUB_MS, RECV_MS, TRACEPARENT

HOPS = (
    "source",
    "adapter_recv",
    "publish",
    "broker",
    "bridge_recv",
    "socket_write",
    "client_recv",
)
DATA_TYPES = {"market_data", "kline_data", "trade_data", "depth_data"}


def add_parser(commands: Any) -> None:
    trace = commands.add_parser(
        "trace",
        help="follow the next messages of a symbol from the source to this client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument("symbol", help="e.g. 600000.SH")
    trace.add_argument("-n", "--count", type=int, default=5, help="messages to follow (5)")
    trace.add_argument("--data-type", default="quote", choices=[t.value for t in DataType])
    trace.add_argument("--frequency", default=None, help="kline period (default 1m)")
    trace.add_argument(
        "--url",
        default=os.environ.get("MDBRIDGE_BRIDGE_URL", "http://127.0.0.1:8000"),
        help="bridge base URL (default http://127.0.0.1:8000)",
    )
    trace.add_argument(
        "--nats-url",
        default=os.environ.get("MDBRIDGE_NATS_URL", "nats://127.0.0.1:4222"),
        help="NATS, for the adapter's hop headers (default $MDBRIDGE_NATS_URL)",
    )
    trace.add_argument("--token", default=os.environ.get("MDBRIDGE_TOKEN"), help="admin token")
    trace.add_argument("--timeout", type=float, default=30.0, help="give up after (s)")
    trace.add_argument("--json", action="store_true", help="one JSON object per message")


def _enable_trace(base: str, connection_id: str, token: str | None) -> None:
    request = urllib.request.Request(  # noqa: S310 (an http:// URL of our own)
        f"{base}/admin/connections/{connection_id}/trace",
        data=b'{"enabled": true}',
        method="POST",
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (an http:// URL of our own)
        response.read()


def _iso_ms(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp() * 1000
    except ValueError:
        return None


def _header_ms(headers: dict[str, str] | None, name: str) -> float | None:
    try:
        return float(headers[name]) if headers and name in headers else None
    except ValueError:
        return None


async def _broker_hops(nats_url: str, frames: list[dict[str, Any]], stream: str) -> str | None:
    """Fill the adapter and broker hops from JetStream; returns a warning when it cannot."""
    import nats
    from nats.errors import Error as NatsError

    try:
        nc = await nats.connect(nats_url, connect_timeout=3, max_reconnect_attempts=0)
    except (NatsError, OSError, TimeoutError) as exc:
        return f"NATS at {nats_url} unreachable ({exc!r}): adapter hops not shown"
    try:
        js = nc.jetstream()
        for frame in frames:
            raw = await js.get_msg(stream, seq=frame["seq"])
            headers = raw.headers or {}
            frame["hops"]["adapter_recv"] = _header_ms(headers, RECV_MS)
            frame["hops"]["publish"] = _header_ms(headers, PUB_MS)
            if raw.time is not None:
                frame["hops"]["broker"] = raw.time.timestamp() * 1000
            frame["nats_traceparent"] = headers.get(TRACEPARENT)
    finally:
        await nc.close()
    return None


async def _follow(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    from websockets.asyncio.client import connect

    base = args.url.rstrip("/")
    ws_url = base.replace("http", "ws", 1) + "/ws"
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    frames: list[dict[str, Any]] = []
    async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
        hello = orjson.loads(await ws.recv())
        connection_id = hello["data"]["connection_id"]
        await asyncio.to_thread(_enable_trace, base, connection_id, args.token)
        request: dict[str, Any] = {
            "symbol": args.symbol,
            "data_type": args.data_type,
            "snapshot": False,
        }
        if args.frequency:
            request["frequency"] = args.frequency
        await ws.send(orjson.dumps({"type": "subscribe", "id": "t1", "data": request}).decode())
        while len(frames) < args.count:
            raw = await ws.recv()
            received = time.time() * 1000
            frame = orjson.loads(raw)
            for inner in frame["data"] if frame["type"] == "batch" else [frame]:
                if inner["type"] == "subscribe":
                    result = inner["data"]["subscriptions"][0]
                    if result["status"] == "error":
                        raise SystemExit(f"mdbridge trace: {result['code']}: {result['message']}")
                elif inner["type"] == "error":
                    raise SystemExit(f"mdbridge trace: {inner['data']['message']}")
                elif inner["type"] in DATA_TYPES and len(frames) < args.count:
                    frames.append(_frame_row(inner, received))
    warning = await _broker_hops(args.nats_url, frames, STREAM_BY_TYPE[DataType(args.data_type)])
    return frames, warning


def _frame_row(inner: dict[str, Any], received: float) -> dict[str, Any]:
    metadata = inner["metadata"]
    trace = metadata.get("trace") or {}
    return {
        "subject": metadata["subject"],
        "seq": metadata["seq"],
        "traceparent": trace.get("traceparent"),
        "hops": {
            "source": _iso_ms(inner["data"].get("timestamp")),
            "adapter_recv": None,
            "publish": None,
            "broker": float(metadata["broker_ms"]),
            "bridge_recv": trace.get("bridge_recv_ms"),
            "socket_write": trace.get("sent_ms"),
            "client_recv": received,
        },
    }


def _print_table(frames: list[dict[str, Any]]) -> None:
    steps: dict[str, list[float]] = {hop: [] for hop in HOPS[1:]}
    for frame in frames:
        print(f"\n{frame['subject']}  seq {frame['seq']}  traceparent {frame['traceparent']}")
        print(f"  {'hop':<14}{'time':<32}{'+ms':>10}{'total ms':>11}")
        hops, previous = frame["hops"], None
        start = hops["source"]
        for hop in HOPS:
            at = hops[hop]
            if at is None:
                print(f"  {hop:<14}{'-':<32}")
                continue
            step = "" if previous is None else f"{at - previous:10.3f}"
            total = "" if start is None else f"{at - start:11.3f}"
            print(f"  {hop:<14}{epoch_ms_to_iso(at):<32}{step:>10}{total:>11}")
            if previous is not None:
                steps[hop].append(at - previous)
            previous = at
    print(f"\nmedian step over {len(frames)} message(s), ms:")
    for hop, values in steps.items():
        if values:
            print(f"  -> {hop:<14}{statistics.median(values):10.3f}")


def run_trace(args: argparse.Namespace) -> int:
    if args.count < 1 or args.count > 10_000:
        print("mdbridge trace: --count must be between 1 and 10000", file=sys.stderr)
        return 2
    try:
        frames, warning = asyncio.run(asyncio.wait_for(_follow(args), args.timeout))
    except TimeoutError:
        print(
            f"mdbridge trace: no message for {args.symbol} within {args.timeout:g}s",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"mdbridge trace: cannot reach the bridge at {args.url}: {exc}", file=sys.stderr)
        return 1
    if warning:
        print(f"mdbridge trace: {warning}", file=sys.stderr)
    if args.json:
        for frame in frames:
            print(orjson.dumps(frame).decode())
    else:
        _print_table(frames)
    return 0
