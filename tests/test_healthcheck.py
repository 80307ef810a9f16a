"""The container health check against a real bridge and a real nats-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.healthcheck import HealthcheckSettings, check_adapter, check_bridge, detect_role
from mdbridge.natsserver import NatsServer, free_port
from schemas import status_subject
from tests.support.servers import running_bridge


def test_role_comes_from_the_main_command(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/mdbridge/bin/python\0/opt/mdbridge/bin/mdbridge\0adapter\0sim\0")
    assert detect_role(cmdline) == "adapter"
    cmdline.write_bytes(b"/opt/mdbridge/bin/mdbridge\0bridge\0")
    assert detect_role(cmdline) == "bridge"
    assert detect_role(tmp_path / "missing") == "bridge"


async def test_bridge_check_passes_on_a_serving_bridge(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    async with running_bridge(nats_server.url) as bridge:
        settings = HealthcheckSettings(host="0.0.0.0", port=bridge.settings.port)
        assert await asyncio.to_thread(check_bridge, settings) is None
    closed = HealthcheckSettings(port=free_port())
    reason = await asyncio.to_thread(check_bridge, closed)
    assert reason is not None
    assert "/healthz" in reason


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_adapter_check_needs_a_recent_heartbeat(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    source = "hc-test"
    settings = HealthcheckSettings(nats_url=nats_server.url, source_id=source)
    reason = await check_adapter(settings)
    assert reason is not None
    assert "no heartbeat" in reason
    await nc.jetstream().publish(status_subject(source), orjson.dumps({"source_id": source}))
    assert await check_adapter(settings) is None
    await asyncio.sleep(1.1)
    stale = HealthcheckSettings(
        nats_url=nats_server.url, source_id=source, healthcheck_max_age_s=1.0
    )
    reason = await check_adapter(stale)
    assert reason is not None
    assert "old" in reason


async def test_adapter_check_fails_without_nats() -> None:
    settings = HealthcheckSettings(
        nats_url=f"nats://127.0.0.1:{free_port()}", healthcheck_timeout_s=1.0
    )
    reason = await check_adapter(settings)
    assert reason is not None
    assert "cannot reach NATS" in reason
