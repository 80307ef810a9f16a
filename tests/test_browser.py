"""The quote board, the dashboard and the API reference in real headless Chromium.

A real nats-server (this module's own), the bridge under uvicorn, and the simulator publishing
a market of 1,200 symbols (quotes, 5-level depth, trades, K-lines; 6x time so a 1-minute bar
closes every 10 s); Playwright drives Debian's Chromium (``make test`` installs it and a CJK font;
Playwright never downloads a browser). Screenshots go to tests/artifacts/, or to the folder in
``MDBRIDGE_SCREENSHOTS`` (``make screenshots``: docs/img).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import orjson
import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, async_playwright
from websockets.exceptions import ConnectionClosed

from mdbridge.natsserver import NatsServer, free_port
from services.provision import ensure_streams
from services.runner import run_adapter
from services.settings import AdapterSettings
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("MDBRIDGE_SCREENSHOTS") or Path(__file__).parent / "artifacts")
CHROMIUM = os.environ.get("MDBRIDGE_CHROMIUM", "/usr/bin/chromium")
MARKET_SIZE = 1200


@pytest.fixture(scope="module")
def market_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server of this module's own: the simulated market (600000.SH among its 1,200
    symbols) must not leak into the session's server, where tests keep to their own symbols."""
    store = tmp_path_factory.mktemp("browser-nats")
    server = NatsServer(store_dir=store, port=free_port(), log_file=store / "nats.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def stack(market_nats: NatsServer) -> AsyncIterator[BridgeHandle]:
    nats_server = market_nats
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream())
    await nc.jetstream().publish(
        "md.status.quality.report",
        orjson.dumps({"kind": "quality_report", "source": "browser-sim", "symbols_checked": 4}),
    )
    await nc.drain()
    settings = AdapterSettings(
        nats_url=nats_server.url,
        source_id="browser-sim",
        sim_symbols=MARKET_SIZE,
        # every symbol every 2.5 s of wall time; a 1-minute bar (4 snapshots) every 10 s
        sim_speed=6,
        sim_interval_s=15,
    )
    stop = asyncio.Event()
    sim = asyncio.create_task(run_adapter("sim", settings, stop))
    async with running_bridge(
        nats_server.url, monitor_interval_s=0.5, alert_max_connections=1
    ) as bridge:
        yield bridge
        stop.set()
        await asyncio.wait_for(sim, 15)


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh profile every run
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport={"width": 1600, "height": 1000},
        )
        yield context
        await context.close()


class Watched:
    """A page with every console error, uncaught exception and off-site request recorded."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("request", lambda r: None if r.url.startswith(base) else self._offsite(r.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _offsite(self, url: str) -> None:
        if not url.startswith(("data:", "blob:")):
            self.problems.append(f"off-site request: {url}")


async def _watched(browser: BrowserContext, stack: BridgeHandle) -> Watched:
    return Watched(await browser.new_page(), stack.http_url)


async def _screenshot(page: Page, name: str) -> Path:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    path = SHOTS / name
    await page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


async def _drain(client: WsClient) -> None:
    """Read until the connection ends (what was queued arrives first, then the close)."""
    while True:
        await client.next(timeout=10)


async def _cell(page: Page, symbol: str, field: str) -> str:
    return await page.inner_text(f'#grid .row[data-symbol="{symbol}"] [data-field="{field}"]')


async def test_board_shows_a_whole_market_sorted_and_ticking(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    w = await _watched(browser, stack)
    page = w.page
    await page.goto(f"{stack.http_url}/board?symbols=600000.SH")
    await page.wait_for_selector("#conn.ok", timeout=15_000)
    await page.click('#views button[data-view="all"]')
    await page.wait_for_function(
        f"Number(document.querySelector('#grid').dataset.rows) >= {MARKET_SIZE}",
        timeout=20_000,
    )
    await page.wait_for_function(  # the snapshot plus the first pass of the market
        f"mdboard.grid.keys.filter(k => mdboard.record(k).quote).length >= {MARKET_SIZE}",
        timeout=20_000,
    )
    rendered = int(await page.get_attribute("#grid", "data-rendered") or "0")
    assert 10 <= rendered < 100, "virtual scrolling: only the rows in view are in the DOM"
    render_ms = await page.evaluate(
        """(() => { const t0 = performance.now();
            for (let i = 0; i < 20; i++) mdboard.grid.render();
            return (performance.now() - t0) / 20; })()"""
    )
    print(f"one grid render: {render_ms:.2f} ms")  # ~0.5 ms measured at 5,400 rows
    assert render_ms < 50  # a sanity bound only: a frame is 16 ms
    # sort by 涨跌幅, descending: the visible rows are in order
    await page.click('#grid .grid-head [data-sort="pct"]')
    await page.wait_for_function(
        "document.querySelector('#grid .grid-head [data-sort=\"pct\"]').textContent.includes('▼')"
    )
    # sorted on the values as they are at the (once a second) re-sort
    pcts = await page.evaluate(
        """mdboard.reorder(), mdboard.grid.keys.map(k => mdboard.record(k).quote?.change_percent)
            .filter(v => typeof v === "number")"""
    )
    assert len(pcts) == MARKET_SIZE
    assert pcts == sorted(pcts, reverse=True)
    # the rows in view are the first of the sorted order (once the frame after a re-sort drew)
    await page.wait_for_function(
        """JSON.stringify([...document.querySelectorAll('#grid .row:not([hidden])')]
            .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
            .slice(0, 10).map(r => r.dataset.symbol))
          === JSON.stringify(mdboard.grid.keys.slice(0, 10))""",
        timeout=5_000,
    )
    # scrolled to the far end, rows are there and filled: the whole market, not a page of it
    await page.evaluate(
        "const b = document.querySelector('#grid .grid-body'); b.scrollTop = b.scrollHeight"
    )
    await page.wait_for_timeout(300)
    names = await page.locator("#grid .row:not([hidden]) [data-field='name']").all_inner_texts()
    assert sum(1 for n in names if n.strip()) >= 10
    # and it keeps ticking
    before = int(await page.get_attribute("#counter", "data-messages") or "0")
    await page.wait_for_function(
        f"Number(document.querySelector('#counter').dataset.messages) > {before + 200}",
        timeout=15_000,
    )
    await page.evaluate("document.querySelector('#grid .grid-body').scrollTop = 0")
    await page.wait_for_timeout(300)
    await _screenshot(page, "board-market.png")

    # volume in 手 (lots of 100) or 股 (shares); labels in Chinese or English
    symbol = await page.evaluate("mdboard.grid.keys[0]")
    await page.select_option("#unit", "shares")
    await page.wait_for_function(
        "document.querySelector('#grid .grid-head [data-sort=\"volume\"]').textContent"
        ".startsWith('成交量(股)')"
    )
    await page.click("#lang")
    await page.wait_for_function(
        "document.querySelector('#grid .grid-head [data-sort=\"last\"]').textContent === 'Last'"
    )
    assert await page.inner_text('#views button[data-view="SH"]') == "Shanghai *.SH"
    phases = await page.locator("#grid .row:not([hidden]) [data-field='phase']").all_inner_texts()
    assert "continuous" in phases
    await page.wait_for_function(  # in English and in shares: the quote's volume, as is
        f"""document.querySelector('#grid .row[data-symbol="{symbol}"] [data-field="volume"]')
            .textContent === mdboard.record('{symbol}').quote.volume.toLocaleString('en-US')"""
    )
    await page.click("#lang")  # back to Chinese for the next page in this profile

    # a row of the market opens its detail pane; 加自选 puts it on the watchlist (sorted by
    # code first: an order that ticks cannot change, so the row stays under the pointer)
    await page.click('#grid .grid-head [data-sort="code"]')
    await page.wait_for_function("mdboard.reorder(), mdboard.grid.keys[0] < mdboard.grid.keys[1]")
    chosen = await page.evaluate("mdboard.grid.keys[3]")
    await page.click(f'#grid .row[data-symbol="{chosen}"]')
    await page.wait_for_selector(f'#detail:not([hidden])[data-symbol="{chosen}"]')
    assert await page.get_attribute("#detail-watch", "data-held") == "false"
    await page.click("#detail-watch")
    assert await page.get_attribute("#detail-watch", "data-held") == "true"
    stored = orjson.loads(await page.evaluate("localStorage.getItem('mdbridge.watchlist')"))
    assert stored[0] == chosen
    await page.click('#views button[data-view="watch"]')
    await page.wait_for_function(
        f"""document.querySelector('#grid .row[data-symbol="{chosen}"] [data-field="last"]')
            ?.textContent.match(/^\\d+\\.\\d\\d$/)""",
        timeout=15_000,
    )
    assert w.problems == []
    await page.close()


async def test_docs_is_swagger_ui_with_the_openapi_document_and_a_favicon(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    w = await _watched(browser, stack)
    page = w.page
    await page.goto(f"{stack.http_url}/docs")
    await page.wait_for_selector("body[data-loaded=openapi]", timeout=15_000)
    await page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        document = (await http.get("/openapi.json")).json()
        favicon = await http.get("/favicon.ico")
    summaries = await page.locator(".opblock-summary-path").all_inner_texts()
    assert {p.replace("\u200b", "") for p in summaries} >= set(document["paths"])
    assert document["info"]["title"] in await page.inner_text(".swagger-ui .info")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/svg+xml"
    await _screenshot(page, "docs.png")
    # problem-type links (/docs#problem-X) land on the protocol page's table
    await page.goto(f"{stack.http_url}/docs#problem-UNKNOWN_SYMBOL")
    await page.wait_for_url("**/docs/protocol#problem-UNKNOWN_SYMBOL", timeout=10_000)
    assert await page.locator("#problem-UNKNOWN_SYMBOL").count() == 1
    await page.goto(f"{stack.http_url}/docs/asyncapi")
    assert await page.locator("#channel-websocket").count() == 1
    assert await page.locator("#message-SubscribeRequest").count() == 1
    assert "`" not in await page.inner_text("body")  # Markdown code became <code>
    assert w.problems == []
    await page.close()


async def test_dashboard_has_time_axes_readable_panels_and_disconnects_a_connection(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    watcher = await WsClient.open(stack.ws_url)
    connected = await watcher.wait_for(lambda f: f["data"].get("event") == "connected")
    victim = connected["data"]["connection_id"]
    await watcher.request("subscribe", {"symbols": ["*.SH"], "data_type": "quote"})
    other = await WsClient.open(stack.ws_url)  # two connections: the connections alert fires
    w = await _watched(browser, stack)
    page = w.page
    await page.goto(f"{stack.http_url}/dashboard")
    await page.wait_for_function(
        "Number(document.querySelector('#updated').dataset.polls) >= 2", timeout=15_000
    )
    await page.wait_for_function(
        "Number(document.querySelector('#tile-connections .value').textContent) >= 2 &&"
        " Number(document.querySelector('#tile-mps .value').textContent.replace(/,/g, '')) > 0"
        " && /\\d/.test(document.querySelector('#tile-adapters .value').textContent)",
        timeout=15_000,
    )
    # uPlot charts: a time axis with wall-clock labels and a value axis, and points that grow
    for chart in ("chart-mps", "chart-latency", "chart-connections"):
        assert await page.locator(f"#{chart} .u-axis").count() == 2
    x_labels = await page.get_attribute("#chart-mps", "data-time-axis") or ""
    assert re.search(r"\d\d:\d\d:\d\d", x_labels), x_labels
    before = int(await page.get_attribute("#chart-mps", "data-points") or "0")
    await page.wait_for_function(
        f"Number(document.querySelector('#chart-mps').dataset.points) > {before}",
        timeout=15_000,
    )
    # a tooltip with the time and the values under the cursor
    box = await page.locator("#chart-mps .u-over").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    tip = page.locator("#chart-mps .tooltip")
    await tip.wait_for(state="visible", timeout=5_000)
    assert "bridge sends to clients" in await tip.inner_text()
    # human words, not JSON
    await page.wait_for_selector('#sources .source[data-source="browser-sim"]', timeout=15_000)
    sources = await page.inner_text("#sources")
    assert "up — heartbeats arriving" in sources
    assert re.search(r"publishing\s+[\d,]+ msgs/s", sources), sources
    quality = await page.inner_text("#quality")
    assert "problems now" in quality
    assert "{" not in quality
    assert "{" not in sources
    await page.wait_for_selector("#alerts tbody td:text('connections')", timeout=15_000)
    assert "NATS connected" in await page.inner_text("#nats")
    await _screenshot(page, "dashboard.png")

    # an admin disconnects one connection: two clicks (arm, confirm), through the admin API
    row = page.locator(f'#connections tr[data-connection="{victim}"]')
    await row.wait_for(timeout=15_000)
    await row.locator("button[data-action=disconnect]").click()
    await row.locator("button.armed").click()
    await page.wait_for_selector(f'#action-message[data-closed="{victim}"]', timeout=10_000)
    with pytest.raises(ConnectionClosed):
        await _drain(watcher)
    await page.wait_for_selector(f'#connections tr[data-connection="{victim}"]', state="detached")
    assert w.problems == []
    await page.close()
    await other.close()


async def test_board_search_finds_by_pinyin_and_the_detail_pane_has_depth_and_candles(
    stack: BridgeHandle, browser: BrowserContext
) -> None:
    w = await _watched(browser, stack)
    page = w.page
    watch = "000001.SZ,600519.SH,600036.SH,601318.SH,000858.SZ,300750.SZ,688981.SH,430047.BJ"
    await page.goto(f"{stack.http_url}/board?symbols={watch}")
    await page.wait_for_selector("#conn.ok", timeout=15_000)
    await page.wait_for_function(
        """document.querySelector('#grid .row[data-symbol="000001.SZ"] [data-field="last"]')
            ?.textContent.match(/^\\d+\\.\\d\\d$/)""",
        timeout=15_000,
    )
    assert await _cell(page, "000001.SZ", "name") == "平安银行"
    await page.wait_for_function(  # a new last price flashes its cell
        "document.getAnimations().some(a => a.effect?.target?.dataset?.field === 'last')",
        timeout=15_000,
    )

    await page.fill("#search", "pfyh")
    first = page.locator("#suggestions li").first
    await first.wait_for(timeout=10_000)
    assert "浦发银行" in await first.inner_text()
    assert await first.get_attribute("data-symbol") == "600000.SH"
    await page.keyboard.press("Enter")
    # added to the watchlist (kept in localStorage), its row named and ticking
    await page.wait_for_function(
        """document.querySelector('#grid .row[data-symbol="600000.SH"] [data-field="last"]')
            ?.textContent.match(/^\\d+\\.\\d\\d$/)""",
        timeout=15_000,
    )
    assert await _cell(page, "600000.SH", "name") == "浦发银行"
    stored = await page.evaluate("localStorage.getItem('mdbridge.watchlist')")
    assert orjson.loads(stored)[0] == "600000.SH"
    phase = await _cell(page, "600000.SH", "phase")
    assert phase == "连续竞价"  # the simulator trades around the clock
    amount = await _cell(page, "600000.SH", "amount")
    assert amount.endswith(("万", "亿")), amount

    # the detail pane opened on the chosen symbol: a 5-level book and candles, then live bars
    await page.wait_for_selector('#detail:not([hidden])[data-symbol="600000.SH"]')
    await page.wait_for_function(
        "Number(document.querySelector('#depth').dataset.levels) >= 5", timeout=15_000
    )
    prices = await page.locator('#depth tr [data-field="price"]').all_inner_texts()
    assert len(prices) == 10
    assert all(p != "–" for p in prices)
    asks = [float(p) for p in prices[:5]]
    bids = [float(p) for p in prices[5:]]
    assert asks == sorted(asks, reverse=True)
    assert bids == sorted(bids, reverse=True)
    assert min(asks) > max(bids)
    await page.wait_for_selector("#chart[data-history]", timeout=15_000)
    history = int(await page.get_attribute("#chart", "data-history") or "0")
    await page.wait_for_function(
        "Number(document.querySelector('#chart').dataset.live) >= 3", timeout=30_000
    )
    bars = int(await page.get_attribute("#chart", "data-bars") or "0")
    assert history >= 1, "the chart starts from REST /v1/klines history"
    assert bars >= history
    assert await page.locator("#chart canvas").count() >= 1
    await page.select_option("#levels", "10")
    assert await page.locator("#depth tr").count() == 20
    await page.select_option("#levels", "5")
    # another period: its own history loaded (few bars, maybe none yet, while issue 17 builds
    # long history), then its live bar: the day's bar updating in place
    await page.click('#periods button[data-period="1d"]')
    await page.wait_for_function(
        """(c => c.dataset.period === "1d" && c.dataset.history !== undefined
              && Number(c.dataset.live) >= 1 && Number(c.dataset.bars) >= 1
            )(document.querySelector('#chart'))""",
        timeout=30_000,
    )
    await page.click('#periods button[data-period="1m"]')
    await page.wait_for_function(
        "Number(document.querySelector('#chart').dataset.live) >= 1", timeout=30_000
    )
    if "MDBRIDGE_SCREENSHOTS" in os.environ:  # for the docs: a chart with a few more bars
        await page.wait_for_function(
            "Number(document.querySelector('#chart').dataset.bars) >= 8", timeout=120_000
        )
    await _screenshot(page, "board-detail.png")

    # the board's socket is closed under it: mdclient reconnects and resumes, rows tick on
    victim = await page.evaluate("mdboard.client.connectionId")
    async with httpx.AsyncClient(base_url=stack.http_url) as http:
        closed = await http.delete(
            f"/admin/connections/{victim}", headers={"X-Requested-With": "mdbridge"}
        )
    assert closed.status_code == 200
    await page.wait_for_function("mdboard.client.reconnects >= 1", timeout=15_000)
    await page.wait_for_selector("#conn.ok", timeout=15_000)
    seq = await page.evaluate("mdboard.record('600000.SH').seq")
    await page.wait_for_function(f"mdboard.record('600000.SH').seq > {seq}", timeout=15_000)
    assert await page.evaluate("mdboard.client.connectionId") != victim
    assert w.problems == []
    await page.close()
