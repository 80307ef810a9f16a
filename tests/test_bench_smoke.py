"""Every bench scenario at toy size against real processes: the harness must not rot.

Nothing here judges speed (that is ``make bench``'s job); it checks that each scenario ran
against each target and produced complete, sane numbers, plots and a summary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from mdbridge.bench import SCENARIOS, BenchConfig
from mdbridge.bench.runner import run_bench

# Runs the bench's scenarios: not in `make test-fast`.
pytestmark = [pytest.mark.slow]

TARGETS = ("mdbridge", "nats_ws", "broadcaster")
LATENCY_KEYS = {"count", "p50", "p95", "p99", "max", "mean"}


@pytest.fixture(scope="module")
async def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    config = dataclasses.replace(BenchConfig().smoke(), out=out, scenarios=SCENARIOS)
    return await run_bench(config)


def _check_load(row: dict[str, Any]) -> None:
    assert row["errors"] == 0, row["error_samples"]
    assert row["open"] == row["clients"]
    assert row["delivered"] > 0
    assert row["delivered_per_s"] > 0
    assert set(row["latency_ms"]) == LATENCY_KEYS
    assert row["latency_ms"]["count"] == row["delivered"]
    assert 0 <= row["latency_ms"]["p50"] <= row["latency_ms"]["p99"] <= row["latency_ms"]["max"]
    assert row["cdf_ms"]
    assert row["cdf_ms"][-1][1] == 1.0
    assert set(row["cpu_pct"]) == {"target", "nats", "clients", "publisher"}
    assert all(v >= 0 for v in row["cpu_pct"].values())
    assert row["delivered_ratio"] > 0.5  # the offered load got through


def test_every_scenario_ran_without_error(report: dict[str, Any]) -> None:
    scenarios = report["scenarios"]
    assert set(scenarios) == set(SCENARIOS)
    failed = {k: v["error"] for k, v in scenarios.items() if isinstance(v, dict) and "error" in v}
    assert not failed


def test_hold_measures_memory_and_heartbeats_per_target(report: dict[str, Any]) -> None:
    hold = report["scenarios"]["hold"]
    assert set(hold) == set(TARGETS)
    for name, row in hold.items():
        assert row["errors"] == 0, (name, row["error_samples"])
        assert row["open"] == row["connections"] > 0
        assert row["rss_after_mb"] > 0
        assert row["cpu_pct"] >= 0
    assert hold["mdbridge"]["heartbeats"] > 0  # status heartbeats reached the idle clients
    assert hold["nats_ws"]["heartbeats"] > 0  # nats-server's PINGs, answered


def test_fanout_and_throughput_deliver_with_latency_for_every_target(
    report: dict[str, Any],
) -> None:
    for scenario in ("fanout", "throughput"):
        section = report["scenarios"][scenario]
        assert set(section) == set(TARGETS)
        for rows in section.values():
            assert rows
            for row in rows:
                _check_load(row)


def test_burst_delivers_what_was_published(report: dict[str, Any]) -> None:
    burst = report["scenarios"]["burst"]
    assert set(burst) == set(TARGETS)
    for row in burst.values():
        assert row["errors"] == 0, row["error_samples"]
        assert row["expected"] > 0
        assert row["delivered"] == row["expected"]  # nothing conflated at this size
        assert row["drain_s"] > 0


def test_opening_bell_carries_every_phase_for_every_target(report: dict[str, Any]) -> None:
    bell = report["scenarios"]["opening_bell"]
    assert set(bell) == set(TARGETS)
    for row in bell.values():
        assert row["errors"] == 0
        for phase in ("auction", "bell", "cadence"):
            window = row[phase]
            assert window["expected"] > 0, phase
            assert window["delivered"] == window["expected"], phase  # nothing conflated here
            assert set(window["latency_ms"]) == LATENCY_KEYS
            assert window["latency_ms"]["count"] == window["delivered"]
            assert window["staleness_ms"]["count"] > 0, phase
        updates = BenchConfig().smoke().opening_bell.bell_updates
        assert row["bell"]["updates"] == row["market"] * updates  # the whole market rings
        assert 0 < row["bell"]["drain_s"] < 60
    summary = (Path(report["meta"]["config"]["out"]) / "summary.md").read_text()
    assert "## Opening bell" in summary


def test_resume_and_ack_through_the_bridge_and_their_raw_limits(report: dict[str, Any]) -> None:
    resume, ack = report["scenarios"]["resume"], report["scenarios"]["ack"]
    for raw in (resume["raw_ordered"], resume["raw_pull"]):
        assert raw["messages"] == resume["messages"]
        assert raw["msgs_per_s"] > 0
    for raw in (ack["raw_ack_explicit"], ack["raw_ack_all"]):
        assert raw["messages"] == ack["messages"]
        assert raw["msgs_per_s"] > 0
    for section in (resume, ack):
        bridge = section["mdbridge"]
        assert bridge["status"] == "ok", bridge
        assert bridge["messages"] == section["messages"]
        assert bridge["errors"] == 0
        assert bridge["msgs_per_s"] > 0
    assert resume["mdbridge"]["recovered"][0]["recovered"] is True
    assert ack["mdbridge"]["acked"] == ack["messages"]


def test_tuning_variants_ran(report: dict[str, Any]) -> None:
    scenarios = report["scenarios"]
    for name, key in (
        ("compression", "compression"),
        ("ws_impl", "ws_impl"),
        ("event_loop", "event_loop"),
        ("workers", "workers"),
        ("gc", "gc_tuning"),
    ):
        rows = scenarios[name]
        assert rows
        for row in rows:
            assert key in row
            _check_load(row)
    (deflated,) = scenarios["compression"]
    assert deflated["compression"] is True
    assert deflated["deflate_conns"] == deflated["clients"]  # negotiated when the server allows
    profile = scenarios["profile"]["profile"]
    assert profile["samples"] > 0
    assert profile["self"]
    assert profile["files"]


def test_ingest_stores_every_message_in_every_mode(report: dict[str, Any]) -> None:
    ingest = report["scenarios"]["ingest"]
    assert {c["mode"] for c in ingest["cases"]} == {"awaited", "gather", "publisher"}
    for case in ingest["cases"]:
        assert case["failed"] == case["duplicates"] == 0, case
        assert case["acked"] == case["stored_in_stream"] == case["messages"] > 0, case
        assert case["msgs_per_s"] > 0
        assert case["publisher_cpu_us_per_msg"] > 0
    verdict = {v["key"]: v for v in report["targets"]}["ingest"]
    assert verdict["measured"] is not None


def test_report_files_are_written(report: dict[str, Any]) -> None:
    out = Path(report["meta"]["config"]["out"])
    saved = orjson.loads((out / "results.json").read_bytes())
    assert saved["meta"]["load_before"]
    assert saved["meta"]["load_after"]
    assert {v["key"] for v in saved["targets"]} >= {"throughput", "resume", "ratio_nats_ws"}
    assert saved["ratios"]
    summary = (out / "summary.md").read_text()
    assert "## Targets" in summary
    assert "## Fan-out" in summary
    for png in ("latency_cdf.png", "throughput_vs_connections.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")
