"""scripts/bench_stacks.py at toy size: today's stack variants, real servers and clients.

Only the variants that need nothing beyond the bridge's packages run here, named below (the
candidates, granian, picows and nats-core, come with the ``stacks`` extra, not ``dev``).
Nothing judges speed: each run must deliver every frame or message, and say what it measured.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

pytestmark = [pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_stacks.py"
WS_VARIANTS = ["starlette", "direct-task", "direct", "direct-burst"]  # uvicorn + Starlette
NATS_VARIANTS = ["natspy", "bridge"]  # nats-py, and nats-py with the bridge's parser


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_stacks", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> tuple[list[dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return rows, done.stdout


def test_direct_writes_the_frames_websockets_builds() -> None:
    """The direct variant's pre-built bytes are what uvicorn's websockets-sansio would send."""
    bench = _script()
    for size in (5, 125, 126, 300, 65535, 65536, 70_000):
        payload = b"x" * size
        expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        assert bench.server_frame(payload) == expected
    assert 250 <= len(bench.quote(123)) <= 350  # ~300 bytes, as a quote frame


def test_websocket_variants_deliver_every_frame() -> None:
    rows, out = _run(
        "ws", "--clients", "3", "--frames", "40", "--rounds", "1", "--burst", "1,7",
        "--variants", ",".join(WS_VARIANTS),
    )  # fmt: skip
    cases = ["ws, 1 per turn", "ws, 7 per turn"]
    assert [(row["case"], row["variant"]) for row in rows] == [
        (case, variant) for case in cases for variant in WS_VARIANTS
    ]
    for row in rows:
        assert row["delivered"] == row["wanted"] == 3 * 40, row
        assert row["bad"] == 0
        assert row["frames_per_s"] > 0
        assert row["server_cpu_us_per_frame"] >= 0
    for variant in WS_VARIANTS:
        assert f"| ws, 7 per turn | {variant} | 1 |" in out


def test_nats_variants_receive_every_message_with_and_without_headers() -> None:
    rows, out = _run(
        "nats", "--messages", "500", "--rounds", "1", "--variants", ",".join(NATS_VARIANTS)
    )
    assert [(row["case"], row["variant"]) for row in rows] == [
        (case, variant) for case in ("nats_msg", "nats_hmsg") for variant in NATS_VARIANTS
    ]
    for row in rows:
        assert row["received"] == row["messages"] == 500, row
        assert row["with_headers"] == (500 if row["case"] == "nats_hmsg" else 0)
        assert row["with_reply"] == row["with_headers"]  # HMSG as JetStream delivers it
        assert row["msgs_per_s"] > 0
        assert row["cpu_us_per_msg"] >= 0
    assert "| nats_hmsg | bridge | 1 |" in out


def test_an_unknown_variant_is_refused_not_skipped() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "ws", "--rounds", "1", "--variants", "starlette,tornado"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "unknown variant 'tornado'" in done.stderr
    assert '"variant"' not in done.stdout  # refused before anything ran
