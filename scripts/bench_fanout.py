"""Fan-out throughput: one bridge process, N WebSocket clients, M published quotes.

Run: ``.venv/bin/python scripts/bench_fanout.py --clients 20 --messages 50000``

Starts its own nats-server and a ``mdbridge bridge`` subprocess, subscribes N clients to the
same symbols, publishes M quotes as fast as core NATS takes them (the stream stores them) and
reports how long it took until every client had every message (messages/s, deliveries/s)
and the bridge process's CPU time per delivery (user + system, from /proc: Linux only).
Clients only count messages, so the bridge, not the test process, is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats
import orjson
import uvloop

from mdbridge.natsserver import NatsServer, free_port
from schemas import DataType, data_subject
from services.provision import ensure_streams
from tests.support.market import payload_for, put_directory
from tests.support.processes import BridgeProcess
from tests.support.wsclient import WsClient


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def count_until(client: WsClient, total: int, done: list[float]) -> None:
    seen = 0
    while seen < total:
        raw = await client.conn.recv()
        seen += str(raw).count('"seq":')  # one per data message; cheap, so the bridge is measured
    done.append(time.perf_counter())


async def run(clients: int, messages: int, symbols: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "js", port=free_port()).start()
        bridge: BridgeProcess | None = None
        try:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js)
            universe = [f"{600000 + i:06d}.SH" for i in range(symbols)]
            await put_directory(js, universe)
            # every message counted: no conflation for age (a flood would conflate quotes)
            bridge = BridgeProcess(
                server.url, Path(tmp), log_level="WARNING", queue_max_age_ms=0
            ).start()
            assert bridge.process is not None
            pid = bridge.process.pid
            url = bridge.ws_url
            conns = [await WsClient.open(url) for _ in range(clients)]
            for ws in conns:
                await ws.request("subscribe", {"symbol": "*.SH", "snapshot": False})
            done: list[float] = []
            readers = [asyncio.create_task(count_until(ws, messages, done)) for ws in conns]
            bodies = [
                (data_subject(DataType.QUOTE, s), orjson.dumps(payload_for(DataType.QUOTE, s, 10)))
                for s in universe
            ]
            started, cpu_before = time.perf_counter(), cpu_seconds(pid)
            for i in range(messages):  # core publishes: the stream stores them, no ack wait
                subject, body = bodies[i % len(bodies)]
                await nc.publish(subject, body)
                if i % 500 == 499:
                    await nc.flush()
            await nc.flush()
            published = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*readers), 120)
            elapsed = max(done) - started
            cpu = cpu_seconds(pid) - cpu_before
            for ws in conns:
                await ws.close()
            await nc.close()
            return {
                "clients": clients,
                "messages": messages,
                "publish_s": round(published - started, 3),
                "deliver_s": round(elapsed, 3),
                "msgs_per_s": round(messages / elapsed),
                "deliveries_per_s": round(messages * clients / elapsed),
                "bridge_cpu_s": round(cpu, 3),
                "bridge_cpu_us_per_delivery": round(cpu * 1e6 / (messages * clients), 2),
            }
        finally:
            if bridge is not None:
                bridge.stop()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.runs):
        result = uvloop.run(run(args.clients, args.messages, args.symbols))
        print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
