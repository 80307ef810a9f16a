"""Moving a NATS connection off the server it is on, for bridges and adapters alike.

nats-py's ``force_reconnect`` takes the next server of its pool, which can be the very one it
left (the pool holds the configured URLs and the ones the cluster announced); so this asks
again until the connection is somewhere else, a bounded number of times.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

SETTLE_S = 5.0  # how long one reconnect may take before the next is asked for


def server_of(nc: Client) -> str:
    """``host:port`` of the server the connection is on, for the logs."""
    url = nc.connected_url
    return url.netloc if url is not None else "?"


async def move_off(nc: Client) -> bool:
    """Reconnect until on a server other than the current one; False when there is none."""
    left = server_of(nc)
    if len(nc.servers) < 2:
        return False
    for _ in range(2 * len(nc.servers)):
        await nc.force_reconnect()
        for _ in range(int(SETTLE_S / 0.1)):
            await asyncio.sleep(0.1)
            if nc.is_connected:
                break
        if nc.is_connected and server_of(nc) != left:
            return True
    return False
