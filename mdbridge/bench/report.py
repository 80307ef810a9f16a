"""Writing a run's results: ``results.json``, ``summary.md`` and the PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from mdbridge.bench.plots import latency_cdf, throughput_vs_connections
from mdbridge.bench.summary import markdown, peer_ratios, verdicts

RESULTS = "results.json"
SUMMARY = "summary.md"
PLOTS = {"latency_cdf.png": latency_cdf, "throughput_vs_connections.png": throughput_vs_connections}


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Add verdicts and ratios to ``report`` and write every file; returns the paths."""
    results = report["scenarios"]
    report["targets"] = verdicts(results)
    report["ratios"] = peer_ratios(results)
    written = [out / RESULTS, out / SUMMARY]
    (out / RESULTS).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (out / SUMMARY).write_text(markdown(report))
    for name, draw in PLOTS.items():
        if draw(results, out / name):
            written.append(out / name)
    return written


def rewrite(out: Path) -> list[Path]:
    """Regenerate summary and plots from an existing ``results.json``."""
    report: dict[str, Any] = orjson.loads((out / RESULTS).read_bytes())
    return write_report(report, out)
