"""examples/vwap_service.py against a real nats-server: VWAP numbers, resume, redelivery."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from services.provision import ensure_streams
from tests.support.market import quote
from tests.support.records import publish_payload

EXAMPLE = Path(__file__).parent.parent / "examples" / "vwap_service.py"


async def _run_example(url: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--nats-url", url, "--durable", "vwap-test",
        "--idle-exit", "1", "--summary",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    summary: dict[str, Any] = orjson.loads(out)
    return summary


async def _quote(js: Any, symbol: str, volume: int, amount: float) -> int:
    payload = quote(symbol, 10.0) | {"volume": volume, "amount": amount}
    return await publish_payload(js, data_subject(DataType.QUOTE, symbol), payload)


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_vwap_service_counts_each_quote_once_and_resumes(
    fresh_nats_server: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    # (cumulative volume, cumulative amount) as a day goes on
    for volume, amount in [(1_000, 10_000.0), (1_500, 15_100.0), (3_000, 30_400.0)]:
        await _quote(js, "600000.SH", volume, amount)
    for volume, amount in [(5_000, 50_000.0), (6_000, 60_600.0), (200, 2_100.0), (500, 5_200.0)]:
        await _quote(js, "600519.SH", volume, amount)  # totals drop: a new day restarts
    await _quote(js, "000001.SZ", 9_999, 99_999.0)  # not Shanghai: not consumed
    first = await _run_example(fresh_nats_server.url)
    assert first["counted"] == 7
    assert set(first["vwap"]) == {"600000.SH", "600519.SH"}
    assert first["vwap"]["600000.SH"]["vwap"] == pytest.approx(30_400 / 3_000)
    assert first["vwap"]["600519.SH"]["vwap"] == pytest.approx(5_200 / 500)

    last = await _quote(js, "600000.SH", 4_000, 40_500.0)
    resumed = await _run_example(fresh_nats_server.url)
    assert resumed["counted"] == 1  # the durable consumer resumes after what was acked
    assert resumed["vwap"]["600000.SH"]["vwap"] == pytest.approx(40_500 / 4_000)
    assert resumed["vwap"]["600000.SH"]["seq"] == last

    # Losing the consumer (or its acks) redelivers everything: the stored sequences skip it.
    await js.delete_consumer("MD_QUOTE", "vwap-test")
    replayed = await _run_example(fresh_nats_server.url)
    assert (replayed["counted"], replayed["skipped"]) == (0, 8)
    assert replayed["vwap"]["600000.SH"]["vwap"] == pytest.approx(40_500 / 4_000)
    await nc.drain()
