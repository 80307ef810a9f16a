"""Schemathesis, driven by /openapi.json, against a real ``mdbridge bridge`` process: no request
it can make gets a 5xx, and every response conforms to the document (status, type, schema).
The process takes its settings from a config file, as a deployment would."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from bridge.rest.endpoints import ENDPOINTS
from mdbridge.natsserver import NatsServer, free_port
from schemas import DataType
from tests.support.market import publish
from tests.support.records import provision

# Schemathesis walks every operation with generated requests: not in `make test-fast`.
pytestmark = [pytest.mark.slow]

SYMBOL = "600000.SH"  # the document's example symbol: explicit examples hit real data
READY_TIMEOUT_S = 60


@pytest.fixture(scope="module")
async def bridge_url(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    await provision(nats_server.url, {SYMBOL: "浦发银行", "000001.SZ": "平安银行"})
    client = await nats.connect(nats_server.url)
    for data_type in DataType:
        await publish(client.jetstream(), data_type, SYMBOL, 8.5)
    await client.drain()
    port = free_port()
    config = tmp_path_factory.mktemp("fuzz") / "mdbridge.toml"
    config.write_text(f'nats_url = "{nats_server.url}"\nport = {port}\nlog_level = "WARNING"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBRIDGE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mdbridge", "--config", str(config), "bridge", env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(READY_TIMEOUT_S * 10):
                assert process.returncode is None, "the bridge exited during start-up"
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the bridge did not become ready")
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)


EXAMPLES_PER_OPERATION = 25


def test_rest_api_has_no_server_errors_and_keeps_its_document(bridge_url: str) -> None:
    api = schemathesis.openapi.from_url(f"{bridge_url}/openapi.json")
    for endpoint in ENDPOINTS:
        operation = api[endpoint.path]["GET"]
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            *operation.get_strategies_from_examples(),
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: schemathesis.Case[Any]) -> None:
            # all default checks: no 5xx, documented status, content type, headers and schema
            case.call_and_validate()

        exercise()
