"""Resume throughput: one client resumes a subscription N messages behind.

Run: ``.venv/bin/python scripts/bench_resume.py --messages 100000``
(``--profile out.txt`` records the bridge with py-spy during the replay, collapsed stacks)

Starts its own nats-server and a ``mdbridge bridge`` subprocess, stores N quotes of one
symbol (with the headers adapters send), then a client subscribes with ``resume_from`` at
the start and counts replayed messages until ``status recovered``; reports messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats
import orjson
import uvloop

from mdbridge.bench.monitor import cpu_seconds
from mdbridge.natsserver import NatsServer, free_port
from schemas import DataType, data_subject
from services.provision import ensure_streams
from tests.support.market import payload_for, put_directory
from tests.support.processes import BridgeProcess
from tests.support.wsclient import WsClient

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--native", "-r", "200", "-f", "raw", "-o", out]
    return subprocess.Popen([*command, "-p", str(pid)], stdout=subprocess.DEVNULL)


async def run(messages: int, profile: str = "") -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "js", port=free_port()).start()
        bridge = None
        try:
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await ensure_streams(js)
            await put_directory(js, ["600000.SH"])
            subject = data_subject(DataType.QUOTE, "600000.SH")
            body = orjson.dumps(payload_for(DataType.QUOTE, "600000.SH", 10))
            for i in range(messages):
                headers = {"Nats-Msg-Id": f"b{i}", "traceparent": TRACEPARENT}
                await nc.publish(subject, body, headers=headers)
                if i % 2000 == 1999:
                    await nc.flush()
            await nc.flush()
            for _ in range(600):  # core publishes are stored asynchronously
                if (await js.stream_info("MD_QUOTE")).state.messages >= messages:
                    break
                await asyncio.sleep(0.1)
            bridge = BridgeProcess(server.url, Path(tmp), log_level="WARNING").start()
            client = await WsClient.open(bridge.ws_url)
            epoch = orjson.loads(await client.conn.recv())["data"]["epochs"]["MD_QUOTE"]
            profiler = None
            if profile and bridge.process is not None:
                profiler = _profiler(bridge.process.pid, profile)
                await asyncio.sleep(1.0)  # py-spy attaches
            pids = [bridge.process.pid] if bridge.process is not None else []
            cpu_before = cpu_seconds(pids)
            started = time.perf_counter()
            await client.send(
                "subscribe", {"symbol": "600000.SH", "resume_from": {"seq": 0, "epoch": epoch}}
            )
            count = 0
            while True:
                raw = str(await client.conn.recv())
                count += raw.count('"seq":')
                if '"event":"recovered"' in raw:
                    break
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(pids) - cpu_before
            if profiler is not None:
                profiler.send_signal(2)  # SIGINT: py-spy writes what it recorded
                profiler.wait(30)
            await client.close()
            await nc.close()
            replayed = count - 2  # the subscribe reply and the recovered status carry a seq too
            return {
                "messages": replayed,
                "seconds": round(elapsed, 3),
                "msgs_per_s": round(replayed / elapsed),
                "per_bridge_cpu_s": round(replayed / cpu) if cpu > 0 else 0,
                "us_per_msg": round(cpu / replayed * 1e6, 2),
            }
        finally:
            if bridge is not None:
                bridge.stop()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default="", help="py-spy collapsed stacks to this file")
    args = parser.parse_args()
    for _ in range(args.runs):
        print(orjson.dumps(uvloop.run(run(args.messages, args.profile))).decode(), flush=True)


if __name__ == "__main__":
    main()
