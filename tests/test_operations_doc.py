"""docs/operations.md speaks of the chart as it is: every value it names exists."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm

from tests.support.deploy import CHART, REPO

DOC = REPO / "docs" / "operations.md"
# `a.b.c` or `a.b.c: value` in inline code.
VALUE_PATH = re.compile(r"`([a-zA-Z]+(?:\.[A-Za-z0-9]+)+)(?::[^`]*)?`")


def resolves(values: dict[str, Any], path: str) -> bool:
    node: Any = values
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def test_every_value_the_runbook_names_exists() -> None:
    with helm.Chart.load(CHART) as chart:
        values = chart.values
    text = DOC.read_text(encoding="utf-8")
    named = {m[1] for m in VALUE_PATH.finditer(text) if m[1].split(".")[0] in values}
    assert len(named) >= 25  # the runbook is written in terms of the chart's values
    assert {p for p in named if not resolves(values, p)} == set()


def test_the_runbook_covers_what_operators_ask() -> None:
    headings = re.findall(r"^## (.+)$", DOC.read_text(encoding="utf-8"), re.M)
    assert headings == [
        "Sizing",
        "Upgrades without losing clients",
        "Network faults: what happens, how fast, and what you see",
        "Backing up JetStream",
        "Security settings for production",
        "How backend services connect",
    ]
