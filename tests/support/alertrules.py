"""The bridge's alert thresholds written into the shipped Prometheus rules, from the settings.

The bridge evaluates its own alerts with ``MDBRIDGE_ALERT_*`` (bridge/settings.py); the rule
file in the Helm chart says the same for Prometheus. The settings' defaults are the one
source: ``python -m tests.support.alertrules`` (``make k8s``) writes them into the rule file,
and a test checks the committed file is what this writes. Only the threshold numbers are
generated; the rest of the file is edited by hand.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from bridge.settings import BridgeSettings

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "helm" / "mdbridge" / "files" / "prometheus" / "mdbridge-rules.yaml"


def thresholds() -> dict[str, float]:
    """The defaults of the bridge's alert settings, by field name."""
    fields = BridgeSettings.model_fields
    return {name: fields[name].default for name in fields if name.startswith("alert_")}


def _number(value: float) -> str:
    return f"{value:g}"


# (alert, pattern whose group 1 is the number, the number from the thresholds)
Substitution = tuple[str, str, Callable[[dict[str, float]], str]]
SUBSTITUTIONS: list[Substitution] = [
    (
        "MdbridgeTooManyConnections",
        r"mdbridge_ws_connections_active > ([\d.]+)",
        lambda t: _number(t["alert_max_connections"]),
    ),
    (
        "MdbridgeTooManyConnections",
        r"connections \(limit ([\d.]+)\)",
        lambda t: _number(t["alert_max_connections"]),
    ),
    ("MdbridgeHighLatency", r"\) > ([\d.]+)\n", lambda t: _number(t["alert_max_latency_ms"])),
    (
        "MdbridgeHighLatency",
        r"\(limit ([\d.]+) ms\)",
        lambda t: _number(t["alert_max_latency_ms"]),
    ),
    (
        "MdbridgeHighErrorRate",
        r"\) > ([\d.]+)\n",
        lambda t: _number(t["alert_max_error_rate_percent"] / 100),
    ),
    (
        "MdbridgeHighErrorRate",
        r"increase\(mdbridge_ws_messages_in_total\[5m\]\) >= ([\d.]+)",
        lambda t: _number(t["alert_min_requests"]),
    ),
    (
        "MdbridgeHighErrorRate",
        r"\(limit ([\d.]+)%\)",
        lambda t: _number(t["alert_max_error_rate_percent"]),
    ),
    (
        "MdbridgeHighMemory",
        r"mdbridge_process_memory_rss_bytes > ([\d.]+) \* 1024 \* 1024",
        lambda t: _number(t["alert_max_memory_mb"]),
    ),
    (
        "MdbridgeHighMemory",
        r"\(limit ([\d.]+) MiB\)",
        lambda t: _number(t["alert_max_memory_mb"]),
    ),
]


def _rule_span(text: str, alert: str) -> tuple[int, int]:
    """Where the rule named ``alert`` starts and ends in the file."""
    start = text.index(f"- alert: {alert}\n")
    following = re.compile(r"^\s*- alert: |^  - name: ", re.M).search(text, start + 1)
    return start, following.start() if following else len(text)


class RuleFileError(ValueError):
    """A threshold the generator writes is missing from the rule file."""


def render(text: str, values: dict[str, float] | None = None) -> str:
    """``text`` (the rule file) with every generated threshold set from ``values``."""
    values = values if values is not None else thresholds()
    for alert, pattern, number in SUBSTITUTIONS:
        start, end = _rule_span(text, alert)
        rule = text[start:end]
        match = re.search(pattern, rule)
        if match is None:
            raise RuleFileError(f"{alert}: no {pattern!r} in the rule file")
        a, b = match.span(1)
        rule = rule[:a] + number(values) + rule[b:]
        text = text[:start] + rule + text[end:]
    return text


def write_rules() -> Path:
    RULES.write_text(render(RULES.read_text()))
    return RULES


if __name__ == "__main__":
    print(write_rules().relative_to(REPO), file=sys.stderr)
