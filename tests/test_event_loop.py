"""The ``event_loop`` setting picks the loop the bridge really runs on (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from tests.support.processes import BridgeProcess


@pytest.mark.parametrize(
    ("setting", "loop_class"), [("asyncio", "asyncio.unix_events"), ("uvloop", "uvloop.Loop")]
)
async def test_the_bridge_runs_on_the_event_loop_its_setting_names(
    nc: NatsClient, nats_server: NatsServer, tmp_path: Path, setting: str, loop_class: str
) -> None:
    bridge = BridgeProcess(nats_server.url, tmp_path, event_loop=setting).start()
    try:
        assert bridge.ready()
    finally:
        bridge.stop()
    lines = [line for line in bridge.log_path.read_text().splitlines() if "event loop:" in line]
    assert len(lines) == 1
    assert loop_class in lines[0]
