"""The dashboard and the quote board in real headless Chromium, against a running stack.

A real nats-server, the bridge under uvicorn, and a publisher ticking quotes and source
heartbeats; Playwright drives Debian's Chromium (``make test`` installs it; Playwright never
downloads a browser). Screenshots are written to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import orjson
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from mdbridge.natsserver import NatsServer
from schemas import DataType, status_subject
from services.provision import ensure_streams
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ["600000.SH", "000001.SZ", "600519.SH", "300750.SZ"]
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("MDBRIDGE_CHROMIUM", "/usr/bin/chromium")


async def _tick_market(server_url: str, stop: asyncio.Event) -> None:
    """Quotes for every symbol every ~150 ms, a source heartbeat and a quality report."""
    nc = await nats.connect(server_url)
    js = nc.jetstream()
    prices = dict.fromkeys(SYMBOLS, 10.0)
    rng = random.Random(7)
    try:
        await js.publish(
            "md.status.quality",
            orjson.dumps(
                {
                    "kind": "quality_report",
                    "source": "browser-sim",
                    "symbols_checked": 4,
                    "issues": {"stale": 0, "crossed_book": 0},
                }
            ),
        )
        n = 0
        while not stop.is_set():
            for symbol in SYMBOLS:
                prices[symbol] = min(
                    10.9, max(9.1, prices[symbol] + rng.choice([-2, -1, 1, 2]) / 100)
                )
                await publish(js, DataType.QUOTE, symbol, prices[symbol])
            if n % 3 == 0:
                status = {"source": "browser-sim", "event": "heartbeat", "phase": "continuous"}
                await js.publish(
                    status_subject("browser-sim"), orjson.dumps(status | {"symbols": 4})
                )
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.15)
    finally:
        await nc.drain()


@pytest.fixture(scope="module")
async def stack(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream())
    await put_directory(nc.jetstream(), SYMBOLS)
    await nc.drain()
    stop = asyncio.Event()
    ticker = asyncio.create_task(_tick_market(nats_server.url, stop))
    async with running_bridge(
        nats_server.url, monitor_interval_s=0.5, alert_max_connections=1
    ) as bridge:
        yield bridge
        stop.set()
        await ticker


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh profile every run
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        await context.close()


async def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def _price(page: Page, symbol: str) -> str:
    return await page.inner_text(f'tr[data-symbol="{symbol}"] td[data-field="last"]')


async def test_quote_board_subscribes_over_ws_and_prices_tick(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.http_url}/board?symbols={','.join(SYMBOLS[:3])}")
    await page.wait_for_selector("#conn.ok", timeout=15_000)
    for symbol in SYMBOLS[:3]:
        await page.wait_for_function(
            f"""document.querySelector('tr[data-symbol="{symbol}"] td[data-field="last"]')
                ?.textContent.match(/^\\d+\\.\\d\\d$/)""",
            timeout=15_000,
        )
    first_seen = {symbol: await _price(page, symbol) for symbol in SYMBOLS[:3]}
    seq_before = await page.inner_text('tr[data-symbol="600000.SH"] td[data-field="seq"]')
    await page.wait_for_function(
        f"""document.querySelector('tr[data-symbol="600000.SH"] td[data-field="seq"]')
            .textContent !== "{seq_before}" """,
        timeout=15_000,
    )
    later = {symbol: await _price(page, symbol) for symbol in SYMBOLS[:3]}
    count = int(await page.get_attribute("#counter", "data-messages") or "0")
    assert count >= 6
    assert all(9.0 <= float(p) <= 11.0 for p in later.values())
    await _screenshot(page, "board.png")

    # pick symbols: add one, with a typo among them
    await page.fill("#symbols", f"{SYMBOLS[0]}, {SYMBOLS[3]}, 600001.SH")
    await page.click("#subscribe")
    await page.wait_for_function(
        f"""document.querySelector('tr[data-symbol="{SYMBOLS[3]}"] td[data-field="last"]')
            ?.textContent.match(/^\\d+\\.\\d\\d$/)""",
        timeout=15_000,
    )
    note = await page.inner_text('tr[data-symbol="600001.SH"] td[data-field="note"]')
    assert note.startswith("UNKNOWN_SYMBOL")
    assert await page.query_selector(f'tr[data-symbol="{SYMBOLS[1]}"]') is None  # dropped
    assert errors == []
    assert first_seen  # the prices were read before and after a tick
    await page.close()


async def test_dashboard_shows_live_numbers_charts_sources_and_alerts(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    watcher = await WsClient.open(stack.ws_url)  # a second connection: the alert fires
    await watcher.request("subscribe", {"symbols": SYMBOLS, "data_type": "quote"})
    board = await browser.new_page()
    await board.goto(f"{stack.http_url}/board?symbols={','.join(SYMBOLS)}")
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{stack.http_url}/dashboard")
    await page.wait_for_function(
        "Number(document.querySelector('#updated').dataset.polls) >= 2", timeout=15_000
    )
    await page.wait_for_function(
        "Number(document.querySelector('#tile-connections .value').textContent) >= 2 &&"
        " Number(document.querySelector('#tile-mps .value').textContent) > 0",
        timeout=15_000,
    )
    chart = 'svg#chart-mps polyline[data-series="sent"]'
    points_before = await page.get_attribute(chart, "points") or ""
    polls_before = int(await page.get_attribute("#updated", "data-polls") or "0")
    await page.wait_for_function(
        f"Number(document.querySelector('#updated').dataset.polls) >= {polls_before + 2}",
        timeout=15_000,
    )
    points_after = await page.get_attribute(chart, "points") or ""
    assert points_after != points_before
    assert len(points_after.split()) >= 3
    p50 = float(await page.inner_text("#tile-p50 .value"))
    assert 0 <= p50 < 5_000
    assert float(await page.inner_text("#tile-memory .value")) > 10
    await page.wait_for_selector("#top-symbols tbody tr td:text('600000.SH')", timeout=15_000)
    await page.wait_for_selector("#sources tbody tr td:text('browser-sim')", timeout=15_000)
    assert "up" in await page.inner_text("#sources tbody")
    await page.wait_for_selector("#alerts tbody td:text('connections')", timeout=15_000)
    assert "symbols_checked: 4" in await page.inner_text("#quality")
    assert "NATS connected" in await page.inner_text("#nats")
    assert errors == []
    await _screenshot(page, "dashboard.png")
    await board.close()
    await page.close()
    await watcher.close()
