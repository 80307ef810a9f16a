"""The pages ship whole: every static file, the vendored libraries included, is in the wheel.

``make vendor`` (a prerequisite of ``make test``) copies the npm libraries into
``bridge/pages/static/vendor/``; they are git-ignored, so only package-data brings them along.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import nats
import pytest

from bridge.pages import routes
from bridge.pages.vendor import LIBRARIES, VENDOR_DIR, missing
from mdbridge.natsserver import NatsServer
from processkit.distribution import DISTRIBUTION
from services.provision import ensure_streams
from tests.support.servers import running_bridge

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "bridge" / "pages" / "static"


def test_every_vendored_library_is_in_place() -> None:
    assert missing() == [], "run `make vendor`"
    assert {lib.package for lib in LIBRARIES} == {"uplot", "lightweight-charts", "swagger-ui-dist"}
    for lib in LIBRARIES:
        assert (VENDOR_DIR / f"{lib.package}.LICENSE").is_file()


def test_the_wheel_carries_every_page_file_and_the_vendored_libraries(tmp_path: Path) -> None:
    offline = ["--no-deps", "--no-build-isolation", "--quiet"]
    command = [sys.executable, "-m", "pip", "wheel", *offline, "--wheel-dir", str(tmp_path)]
    subprocess.run([*command, str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        path.relative_to(ROOT).as_posix()
        for path in STATIC.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
    assert any(name.startswith("bridge/pages/static/vendor/") for name in wanted)
    assert wanted - names == set()


async def test_a_page_without_its_libraries_says_how_to_build_them(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nc = await nats.connect(nats_server.url)
    await ensure_streams(nc.jetstream())
    await nc.drain()
    monkeypatch.setattr(routes, "missing", lambda: ["uPlot.iife.min.js"])
    async with (
        running_bridge(nats_server.url) as bridge,
        httpx.AsyncClient(base_url=bridge.http_url) as http,
    ):
        for path in ("/dashboard", "/board", "/docs"):
            page = await http.get(path)
            assert page.status_code == 503
            assert "make vendor" in page.text
            assert "uPlot.iife.min.js" in page.text
        monkeypatch.undo()
        assert (await http.get("/board")).status_code == 200
