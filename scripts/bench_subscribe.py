"""How long a 500-symbol subscribe takes, and how many shared-consumer updates it costs."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams
from tests.support.market import put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient


async def main() -> None:
    srv = NatsServer(store_dir=Path(tempfile.mkdtemp()), port=free_port()).start()
    nc = await nats.connect(srv.url)
    js = nc.jetstream()
    await ensure_streams(js)
    syms = [f"{600000 + i:06d}.SH" for i in range(500)]
    await put_directory(js, syms)
    async with running_bridge(srv.url) as b:
        c = await WsClient.open(b.ws_url)
        started = time.perf_counter()
        await c.request("subscribe", {"symbols": syms, "snapshot": True}, timeout=120)
        elapsed = time.perf_counter() - started
        updates = b.runtime.hub.feed_reconfigurations()
        print(f"500-symbol subscribe: reply after {elapsed:.2f} s, {updates} consumer updates")
        await c.close()
    await nc.close()
    srv.stop()


asyncio.run(main())
