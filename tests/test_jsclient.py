"""The JavaScript client (bridge/pages/static/lib/mdclient.js) in Node against a real bridge.

Node connects through a TCP proxy; the test cuts the proxy's connections mid-stream (no close
frame, as a dead network); the client reconnects and resumes, and what its handler saw is
compared with what the stream holds: every message once, in order, no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import nats
import orjson

from bridge.access.tokens import hmac_signing_key, mint_token
from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from services.provision import ensure_streams
from tests.support.market import publish, put_directory
from tests.support.servers import running_bridge
from tests.support.tcpproxy import TcpProxy
from tests.support.tokens import HS, SECRET

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "js" / "resume_after_cut.mjs"
WATCHDOG_SCRIPT = ROOT / "tests" / "js" / "watchdog_and_requests.mjs"
SYMBOLS = ["600010.SH", "000010.SZ"]


async def _publish_until(nats_url: str, stop: asyncio.Event, seqs: dict[str, list[int]]) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    price = 10.0
    try:
        while not stop.is_set():
            price = 10.5 if price == 10.0 else 10.0
            for symbol in SYMBOLS:
                seq = await publish(js, DataType.QUOTE, symbol, price)
                seqs[data_subject(DataType.QUOTE, symbol)].append(seq)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)
    finally:
        await nc.drain()


async def _market_ready(url: str) -> None:
    """The streams and the test symbols' directory, as an adapter would leave them."""
    nc = await nats.connect(url)
    await ensure_streams(nc.jetstream())
    await put_directory(nc.jetstream(), SYMBOLS)
    await nc.drain()


async def test_js_client_resumes_with_no_gap_after_its_socket_is_cut(
    nats_server: NatsServer,
) -> None:
    node = shutil.which("node")
    assert node, "the JS client test needs Node.js (make install provides npm and node)"
    await _market_ready(nats_server.url)
    seqs: dict[str, list[int]] = {data_subject(DataType.QUOTE, s): [] for s in SYMBOLS}
    stop = asyncio.Event()
    async with running_bridge(nats_server.url) as bridge:
        proxy = TcpProxy("127.0.0.1", bridge.settings.port)
        await proxy.start()
        ticker = asyncio.create_task(_publish_until(nats_server.url, stop, seqs))
        proc = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            str(SCRIPT),
            f"ws://127.0.0.1:{proxy.port}/ws",
            ",".join(SYMBOLS),
            "40",
            "200",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        lines: list[dict[str, Any]] = []
        cut = 0
        try:
            async with asyncio.timeout(90):
                while line := await proc.stdout.readline():
                    event = orjson.loads(line)
                    lines.append(event)
                    if "cut" in event:
                        cut = proxy.cut()
                        await asyncio.sleep(0.5)  # the stream moves on while the client is away
                await proc.wait()
        finally:
            stop.set()
            await ticker
            await proxy.close()
        stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    assert cut >= 2, "the client's connection went through the proxy and was cut"
    result = lines[-1]
    assert result["reconnects"] >= 1
    assert result["errors"] == []
    received: list[tuple[str, int]] = [tuple(pair) for pair in result["received"]]
    assert len(received) >= 200
    for subject, published in seqs.items():
        got = [seq for subj, seq in received if subj == subject]
        assert got, subject
        # what the stream holds for this subject from the first to the last one received
        expected = [seq for seq in published if got[0] <= seq <= got[-1]]
        assert got == expected, f"{subject}: gap or duplicate around the cut"
    # order is per subscription (each resumes on its own): across symbols it may interleave


async def test_js_client_requests_and_its_heartbeat_watchdog(nats_server: NatsServer) -> None:
    """Replies by request id, an error reply rejects; a silent network trips the watchdog."""
    node = shutil.which("node")
    assert node
    await _market_ready(nats_server.url)
    seqs: dict[str, list[int]] = {data_subject(DataType.QUOTE, s): [] for s in SYMBOLS}
    stop = asyncio.Event()
    async with running_bridge(nats_server.url, heartbeat_interval_s=0.3) as bridge:
        proxy = TcpProxy("127.0.0.1", bridge.settings.port)
        await proxy.start()
        ticker = asyncio.create_task(_publish_until(nats_server.url, stop, seqs))
        proc = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            str(WATCHDOG_SCRIPT),
            f"ws://127.0.0.1:{proxy.port}/ws",
            SYMBOLS[0],
            "20",
            "80",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        events: dict[str, Any] = {}
        frozen = 0
        try:
            async with asyncio.timeout(90):
                while line := await proc.stdout.readline():
                    event = orjson.loads(line)
                    events.update(event)
                    if "freeze" in event:
                        frozen = proxy.freeze()
                await proc.wait()
        finally:
            stop.set()
            await ticker
            await proxy.close()
        stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert proc.returncode == 0, stderr
    jitter = events["jitter"]
    assert 0 <= jitter["min"] < 50
    assert 600 <= jitter["max"] < 800  # attempt 3: [0, 100 * 2^3)
    assert jitter["capped"] == 9_999  # never past the cap
    assert [p["n"] for p in events["pongs"]] == [1, 2, 3]
    assert events["rejected"] == {"isMdError": True, "code": "UNKNOWN_SUBSCRIPTION"}
    assert frozen >= 2
    assert events["reconnects"] >= 1
    assert any("no frame for" in message for message in events["watchdog"])
    got = events["received"]
    published = seqs[data_subject(DataType.QUOTE, SYMBOLS[0])]
    assert got == [seq for seq in published if got[0] <= seq <= got[-1]]


TSC = ROOT / ".venv" / "npm-tsc" / "node_modules" / ".bin" / "tsc"


def test_the_type_declarations_compile_against_a_typed_use() -> None:
    """``tsc --strict`` over tests/js/typed_use.ts: mdclient.d.ts is valid and complete."""
    assert TSC.is_file(), "make installs TypeScript's compiler (the $(TSC) target)"
    options = ["--noEmit", "--strict", "--target", "es2022", "--module", "es2022"]
    options += ["--moduleResolution", "bundler", "--lib", "es2022,dom"]
    result = subprocess.run(
        [str(TSC), *options, str(ROOT / "tests" / "js" / "typed_use.ts")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_js_client_connects_with_a_token_and_gives_up_on_a_refused_one(
    nats_server: NatsServer,
) -> None:
    node = shutil.which("node")
    assert node
    await _market_ready(nats_server.url)
    good = mint_token(HS, "js-client", scopes=["md:read"])
    bad = mint_token(hmac_signing_key(b"another-secret-0123456789abcdef-0123"), "js-client")
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as bridge:
        proc = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            str(ROOT / "tests" / "js" / "token.mjs"),
            bridge.ws_url,
            good,
            bad,
            SYMBOLS[0],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    result = orjson.loads(stdout.splitlines()[-1])
    assert result["good"]["statuses"][:2] == ["connected", "authenticated"]
    assert result["good"]["subscribed"] == ["subscribed"]
    assert result["bad"] == {
        "isMdError": True,
        "code": "UNAUTHORIZED",
        "retries": 0,
        "state": "closed",
    }
