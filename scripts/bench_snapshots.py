"""The snapshot path's cost: ``Hub.latest_many`` over cached subjects, as a market-wide subscribe
reads it (one call, every symbol of a market), and the unpacking the session does after it.

No broker: every subject is in the hub's latest-value cache, which is the common case (the
shared feed keeps it current), so this times the bridge's own work only. Prints microseconds
per subject, best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.aio.client import Client

from bridge.core.hub import Hub
from bridge.settings import BridgeSettings
from schemas import DataType, data_subject

PAYLOAD = '{"symbol":"600000.SH","last_price":10.5,"volume":1200,"timestamp":"09:30:00.000"}'


async def run(subjects: int, repeat: int) -> float:
    hub = Hub(Client().jetstream(), BridgeSettings())  # never connected: the cache answers
    names = [data_subject(DataType.QUOTE, f"{600000 + i:06d}.SH") for i in range(subjects)]
    for seq, subject in enumerate(names, 1):
        hub._latest[subject] = (seq, 1_700_000_000_000, PAYLOAD)  # what the feed would store
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        snaps = await hub.latest_many(DataType.QUOTE, names)
        total = 0
        for _subject, seq, _broker_ms, _payload in snaps:
            total += seq
        best = min(best, time.perf_counter() - started)
        if len(snaps) != subjects:
            raise SystemExit(f"expected {subjects} snapshots, got {len(snaps)}")
    return best / subjects * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    per_subject = asyncio.run(run(args.subjects, args.repeat))
    print(f"latest_many over {args.subjects} cached subjects: {per_subject:.3f} µs per subject")


if __name__ == "__main__":
    main()
