"""The plain manifests of k8s/: generated from the chart, valid, complete, and speaking the
same settings as the processes they run."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from bridge import BridgeSettings
from mdbridge.healthcheck import HealthcheckSettings
from mdbridge.launcher import RunSettings
from services.settings import AdapterSettings
from tests.support.deploy import (
    K8S,
    K8S_VALUES,
    RELEASE,
    Manifest,
    find,
    k8s_manifests,
    load_yaml,
    validate,
)

# Read by the CLI itself (mdbridge/cli.py), not by a settings object.
CLI_VARIABLES = {"MDBRIDGE_LOG_LEVEL"}
SETTINGS: list[type[BaseSettings]] = [
    BridgeSettings,
    AdapterSettings,
    RunSettings,
    HealthcheckSettings,
]


@pytest.fixture(scope="module")
def k8s_docs() -> list[Manifest]:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    docs: list[Manifest] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]
    return docs


def test_k8s_is_the_chart_rendered_with_its_values() -> None:
    expected = k8s_manifests()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in K8S.glob("*.yaml")}
    on_disk.pop(K8S_VALUES.name)
    assert sorted(on_disk) == sorted(expected), "k8s/ is stale: run `make k8s`"
    stale = [name for name, text in expected.items() if on_disk[name] != text]
    assert stale == [], "k8s/ is stale: run `make k8s`"
    assert "helm.sh/chart" not in "".join(on_disk.values())


def test_every_k8s_manifest_validates(k8s_docs: list[Manifest]) -> None:
    assert len(k8s_docs) >= 20
    for doc in k8s_docs:
        validate(doc)


def test_k8s_has_what_a_cluster_needs(k8s_docs: list[Manifest]) -> None:
    nats = find(k8s_docs, "StatefulSet", f"{RELEASE}-nats")
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    bridge = find(k8s_docs, "Deployment", f"{RELEASE}-bridge")["spec"]["template"]["spec"]
    assert bridge["containers"][0]["lifecycle"]["preStop"]
    assert bridge["terminationGracePeriodSeconds"] == 5 + 20 + 10
    assert find(k8s_docs, "Service", f"{RELEASE}-bridge")["spec"]["ports"][0]["name"] == "http"
    ingress = find(k8s_docs, "Ingress", f"{RELEASE}-bridge")["metadata"]["annotations"]
    assert ingress["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    hpa = find(k8s_docs, "HorizontalPodAutoscaler", f"{RELEASE}-bridge")
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}
    find(k8s_docs, "PodDisruptionBudget", f"{RELEASE}-bridge")
    find(k8s_docs, "PodDisruptionBudget", f"{RELEASE}-nats")
    primary = find(k8s_docs, "Deployment", f"{RELEASE}-adapter-primary")
    backup = find(k8s_docs, "Deployment", f"{RELEASE}-adapter-backup")
    assert (primary["spec"]["replicas"], backup["spec"]["replicas"]) == (1, 0)
    assert find(k8s_docs, "ConfigMap", f"{RELEASE}-config")["data"]["MDBRIDGE_STREAM_REPLICAS"]
    assert set(find(k8s_docs, "Secret", f"{RELEASE}-auth")["data"]) == {"hs256-secret"}
    assert len(find(k8s_docs, "Secret", f"{RELEASE}-nats-auth")["data"]) == 5
    policies = [d["metadata"]["name"] for d in k8s_docs if d["kind"] == "NetworkPolicy"]
    assert sorted(policies) == [f"{RELEASE}-adapters", f"{RELEASE}-bridge", f"{RELEASE}-nats"]
    monitor = find(k8s_docs, "ServiceMonitor", f"{RELEASE}-bridge")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {K8S_VALUES.name, "kustomization.yaml"}
    assert listed == present
    assert kustomization["namespace"] == RELEASE


def _env_names(docs: list[Manifest]) -> set[str]:
    names: set[str] = set()
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == f"{RELEASE}-config":
            names |= set(doc["data"])
        if doc["kind"] == "Deployment":  # the mdbridge processes (NATS is a StatefulSet)
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names |= {item["name"] for item in container.get("env", [])}
    return {name for name in names if name.startswith("MDBRIDGE_")}


def _known_variables() -> set[str]:
    known = set(CLI_VARIABLES)
    for settings in SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        known |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    return known


def test_manifests_set_only_real_settings(k8s_docs: list[Manifest]) -> None:
    """A renamed setting would otherwise be silently ignored in the cluster."""
    names = _env_names(k8s_docs)
    assert {"MDBRIDGE_NATS_URL", "MDBRIDGE_NATS_USER", "MDBRIDGE_SHUTDOWN_GRACE_S"} <= names
    known = _known_variables()
    assert names - known == set()


def test_secret_placeholders_are_obvious(k8s_docs: list[Manifest]) -> None:
    """k8s/ ships placeholders that cannot pass for real secrets."""
    values: dict[str, Any] = {}
    for name in (f"{RELEASE}-auth", f"{RELEASE}-nats-auth"):
        values |= find(k8s_docs, "Secret", name)["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in values.items()}
    assert all(value.startswith("REPLACE-ME") for value in decoded.values()), decoded


def test_nats_servers_get_every_password_their_users_need(k8s_docs: list[Manifest]) -> None:
    config = find(k8s_docs, "ConfigMap", f"{RELEASE}-nats-config")["data"]
    referenced = set(re.findall(r"password: \$(\w+)", config["least-privilege.conf"]))
    assert len(referenced) == 5
    nats = find(k8s_docs, "StatefulSet", f"{RELEASE}-nats")["spec"]["template"]["spec"]
    given = {item["name"] for item in nats["containers"][0]["env"]}
    assert referenced <= given
