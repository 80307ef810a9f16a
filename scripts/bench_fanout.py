"""Fan-out throughput: one bridge process, N WebSocket clients, M published quotes.

Run: ``.venv/bin/python scripts/bench_fanout.py --clients 20 --messages 50000``

Starts its own nats-server and a ``mdbridge bridge`` subprocess, subscribes N clients to the
same symbols, publishes M quotes as fast as core NATS takes them (the stream stores them) and
reports how long it took until every client had every message (messages/s, deliveries/s).
Clients only count messages, so the bridge, not the test process, is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
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
            bridge = BridgeProcess(server.url, Path(tmp), log_level="WARNING").start()
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
            started = time.perf_counter()
            for i in range(messages):  # core publishes: the stream stores them, no ack wait
                subject, body = bodies[i % len(bodies)]
                await nc.publish(subject, body)
                if i % 500 == 499:
                    await nc.flush()
            await nc.flush()
            published = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*readers), 120)
            elapsed = max(done) - started
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
