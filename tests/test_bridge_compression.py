"""permessage-deflate is the server's choice: off by default, negotiated when enabled."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient
from websockets.asyncio.client import connect

from mdbridge.natsserver import NatsServer
from tests.support.servers import running_bridge


@pytest.mark.parametrize("enabled", [False, True])
async def test_deflate_is_negotiated_only_when_the_server_enables_it(
    nc: NatsClient, nats_server: NatsServer, enabled: bool
) -> None:
    async with (
        running_bridge(nats_server.url, ws_compression=enabled) as bridge,
        connect(bridge.ws_url, compression="deflate") as ws,  # the client always offers it
    ):
        first = await ws.recv()
        assert '"event":"connected"' in str(first)
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ("permessage-deflate" in extensions) is enabled
