"""Adapter ingest into JetStream: the project's publisher beside raw nats-py, one process each.

    flock /work/tools/bench.lock .venv/bin/python scripts/bench_ingest.py --messages 200000

Starts its own nats-server (file storage, the project's streams); prints one JSON document.
The same measurement is the ``ingest`` scenario of ``mdbridge bench`` (mdbridge/bench/ingest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from mdbridge.bench.ingest import MODES, cases, ingest_run
from mdbridge.bench.monitor import load_average


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=5400)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--window", type=int, action="append", help="in flight (repeatable)")
    parser.add_argument("--mode", choices=MODES, action="append", help="(repeatable)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), action="append")
    parser.add_argument("--raw-messages", type=int, default=40_000,
                        help="raw nats-py is slow: fewer messages for it")  # fmt: skip
    args = parser.parse_args()
    windows = tuple(args.window or [512])
    loops = tuple(args.loop or ["uvloop"])
    load = load_average()
    rows = []
    for case in cases(windows, loops, tuple(args.mode or MODES)):
        count = args.messages if case.mode == "publisher" else args.raw_messages
        result = asyncio.run(ingest_run((case,), args.symbols, count))
        rows.extend(result["cases"])
        row = result["cases"][0]
        print(
            f"{case.mode:9} {case.loop:7} window {case.window:6}: {row['msgs_per_s']:>9} msgs/s "
            f"stored {row['stored_in_stream']}/{row['messages']} dup {row['duplicates']} "
            f"failed {row['failed']} cpu {row['publisher_cpu_us_per_msg']} us/msg "
            f"nats {row['nats_cpu_us_per_msg']} us/msg load {row['load']}",
            file=sys.stderr,
        )
    print(orjson.dumps({"load_before": load, "cases": rows}, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
