"""The bridge process freezes its start-up heap once uvicorn has started."""

from __future__ import annotations

import gc

from nats.aio.client import Client as NatsClient

from bridge.core.gcpolicy import THRESHOLDS, freeze_after_start
from mdbridge.natsserver import NatsServer
from tests.support.servers import running_bridge


async def test_start_up_objects_leave_the_collector_once_the_server_runs(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    async with running_bridge(nats_server.url) as bridge:
        assert bridge.server.started
        defaults = gc.get_threshold()
        try:
            frozen = await freeze_after_start(bridge.server)
            assert frozen > 10_000  # libraries, models, the directory: far more than this
            assert gc.get_freeze_count() > 10_000  # (frozen objects may still be freed)
            assert gc.get_threshold() == THRESHOLDS
        finally:
            gc.unfreeze()  # this is the test process, not a bridge process
            gc.set_threshold(*defaults)
    assert gc.get_freeze_count() == 0
