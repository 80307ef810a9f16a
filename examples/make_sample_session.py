"""Generate the sample session: the simulator's close of a trading day, recorded.

    .venv/bin/python examples/make_sample_session.py examples/sample-session.jsonl.zst

Starts a private nats-server, records md.quote/kline/trade/depth, symbol status and the
symbol directory while the simulator (8 symbols, real sessions, 20x) runs from 14:56 to
past the 15:00 close: continuous trading, the closing auction, the final bars.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

import nats

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams
from services.replay import DEFAULT_SUBJECTS, record
from services.runner import run_adapter
from services.settings import AdapterSettings

SIM_START = datetime(2026, 11, 20, 14, 56)  # naive: Shanghai time
SPEED = 20.0
WALL_SECONDS = 14.0  # 280 sim seconds: to 15:00:40


async def generate(out: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(
            store_dir=Path(tmp) / "jetstream", port=free_port(), log_file=Path(tmp) / "nats.log"
        ).start()
        try:
            nc = await nats.connect(server.url)
            await ensure_streams(nc.jetstream())
            stop, subscribed = asyncio.Event(), asyncio.Event()
            recording = asyncio.create_task(
                record(
                    nc,
                    out,
                    list(DEFAULT_SUBJECTS),
                    stop,
                    duration_s=WALL_SECONDS,
                    subscribed=subscribed,
                )
            )
            await subscribed.wait()
            settings = AdapterSettings(
                nats_url=server.url,
                source_id="sim",
                sim_symbols=8,
                sim_session="real",
                sim_start=SIM_START,
                sim_speed=SPEED,
            )
            adapter = asyncio.create_task(run_adapter("sim", settings, stop))
            count = await recording
            stop.set()
            await adapter
            await nc.close()
            return count
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "out", type=Path, nargs="?", default=Path("examples/sample-session.jsonl.zst")
    )
    args = parser.parse_args()
    count = asyncio.run(generate(args.out))
    print(f"{args.out}: {count} messages, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
