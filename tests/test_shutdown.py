"""Graceful shutdown in-process: not ready, refuse, tell every client, drain, close 1012."""

from __future__ import annotations

import asyncio

import httpx
from nats.aio.client import Client as NatsClient
from websockets.exceptions import InvalidStatus

from mdbridge.natsserver import NatsServer
from tests.support.market import put_directory
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient


async def test_shutdown_notifies_every_client_then_closes_with_1012(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    await put_directory(nc.jetstream(), ["600000.SH"])
    async with running_bridge(
        nats_server.url,
        shutdown_delay_s=0.5,
        shutdown_reconnect_min_ms=100,
        shutdown_reconnect_max_ms=900,
    ) as bridge:
        clients = [await WsClient.open(bridge.ws_url) for _ in range(5)]
        for client in clients:
            await client.request("subscribe", {"symbol": "600000.SH"})
        bridge.server.should_exit = True  # what SIGTERM does
        async with httpx.AsyncClient(base_url=bridge.http_url) as http:
            for _ in range(50):
                ready = await http.get("/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.02)
        assert ready.status_code == 503
        assert ready.json()["draining"] is True
        try:  # during the delay the listener is open but refuses WebSockets
            late = await WsClient.open(bridge.ws_url)
        except InvalidStatus:
            refused = True
        else:
            await late.conn.wait_closed()
            refused = late.conn.close_code == 1013
        assert refused
        delays = []
        for client in clients:
            notice = await client.wait_for(
                lambda f: f["type"] == "status" and f["data"]["event"] == "shutdown", timeout=5
            )
            delays.append(notice["data"]["reconnect_after_ms"])
            await client.conn.wait_closed()
            assert client.conn.close_code == 1012
        assert all(100 <= d <= 900 for d in delays)
        assert len(set(delays)) > 1  # jittered, so they do not all come back at once
        assert bridge.runtime.nc.is_closed  # NATS was drained


async def test_the_bridges_own_drain_raises_no_nats_alert(
    fresh_nats_server: NatsServer, fresh_nc: NatsClient
) -> None:
    async with running_bridge(fresh_nats_server.url, monitor_interval_s=3600) as bridge:
        observability = bridge.app.state.observability
        await observability.monitor.tick()
        assert "nats_disconnected" not in observability.alerts.active
        bridge.runtime.draining = True  # what the drain does first, before closing NATS
        await bridge.runtime.nc.drain()
        await observability.monitor.tick()
        assert "nats_disconnected" not in observability.alerts.active
        bridge.runtime.draining = False  # the same closed connection, not ours to close
        await observability.monitor.tick()
        assert observability.alerts.active["nats_disconnected"].severity == "critical"
