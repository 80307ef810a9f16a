"""The bridge and Prometheus alert on the same numbers: the rule file's thresholds are the
defaults of the bridge's ``MDBRIDGE_ALERT_*`` settings (written by tests/support/alertrules.py)."""

from __future__ import annotations

import pytest
import yaml

from tests.support.alertrules import RULES, RuleFileError, render, thresholds


def _exprs(text: str) -> dict[str, str]:
    document = yaml.safe_load(text)
    return {r["alert"]: r["expr"] for g in document["groups"] for r in g["rules"]}


def test_the_committed_rules_carry_the_settings_thresholds() -> None:
    text = RULES.read_text()
    assert render(text) == text, "run `make k8s` (python -m tests.support.alertrules)"
    t = thresholds()
    exprs = _exprs(text)
    assert exprs["MdbridgeTooManyConnections"].endswith(f"> {t['alert_max_connections']:g}")
    assert f") > {t['alert_max_latency_ms']:g}\n" in exprs["MdbridgeHighLatency"]
    rate = exprs["MdbridgeHighErrorRate"]
    assert f") > {t['alert_max_error_rate_percent'] / 100:g}\n" in rate
    assert f">= {t['alert_min_requests']:g}" in rate
    assert f"> {t['alert_max_memory_mb']:g} * 1024 * 1024" in exprs["MdbridgeHighMemory"]


def test_changed_thresholds_reach_every_rule_that_uses_them() -> None:
    values = {
        "alert_max_connections": 7,
        "alert_max_latency_ms": 9.5,
        "alert_max_error_rate_percent": 3.0,
        "alert_min_requests": 11,
        "alert_max_memory_mb": 256.0,
    }
    exprs = _exprs(render(RULES.read_text(), values))
    assert exprs["MdbridgeTooManyConnections"].endswith("> 7")
    assert ") > 9.5\n" in exprs["MdbridgeHighLatency"]
    assert ") > 0.03\n" in exprs["MdbridgeHighErrorRate"]
    assert ">= 11" in exprs["MdbridgeHighErrorRate"]
    assert "> 256 * 1024 * 1024" in exprs["MdbridgeHighMemory"]


def test_a_rule_without_its_threshold_is_an_error() -> None:
    text = RULES.read_text().replace("mdbridge_ws_connections_active > ", "mdbridge_ws_x < ")
    with pytest.raises(RuleFileError, match="MdbridgeTooManyConnections"):
        render(text)
