"""The Helm chart: strict lint, offline renders validated against Kubernetes schemas, the
values schema, and what the templates promise (drain timing, non-root, checksums, NATS)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from mdbridge.natsserver import find_nats_server
from tests.support.deploy import (
    CHART,
    PRODUCTION_VALUES,
    RELEASE,
    Manifest,
    documents,
    find,
    load_yaml,
    render,
    validate,
)

WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error


def pod_specs(docs: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
        for doc in docs
        if doc["kind"] in {"Deployment", "StatefulSet"}
    }


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


@pytest.fixture(scope="module")
def default_docs() -> list[Manifest]:
    return documents(render())


@pytest.fixture(scope="module")
def production_values() -> dict[str, Any]:
    return load_yaml(PRODUCTION_VALUES)


@pytest.fixture(scope="module")
def production_docs(production_values: dict[str, Any]) -> list[Manifest]:
    return documents(render(production_values))


@pytest.mark.parametrize("values_file", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_chart_lints_strictly(values_file: Path | None) -> None:
    values = load_yaml(values_file) if values_file else None
    report = helm.lint(CHART, values, strict=True, kube_version="v1.27.0")
    assert report["errors"] == []
    # Strict lint turns warnings into errors; "icon is recommended" (info) is all that remains.
    problems = [m for m in report["messages"] if m["severity"] >= WARNING]
    assert problems == []


def test_default_render_validates(default_docs: list[Manifest]) -> None:
    kinds = {doc["kind"] for doc in default_docs}
    assert kinds >= {"StatefulSet", "Deployment", "Service", "ConfigMap", "Secret"}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    for doc in default_docs:
        validate(doc)


def test_production_render_validates(production_docs: list[Manifest]) -> None:
    kinds = {doc["kind"] for doc in production_docs}
    assert {"Ingress", "ServiceMonitor", "PrometheusRule"} <= kinds
    # Keys come from Secrets managed outside the chart: the chart creates none.
    assert "Secret" not in kinds
    for doc in production_docs:
        validate(doc)


def test_validation_catches_a_broken_manifest(default_docs: list[Manifest]) -> None:
    """The schema check can fail: an unknown field and a wrong type are both refused."""
    deployment = copy.deepcopy(find(default_docs, "Deployment", f"{RELEASE}-bridge"))
    deployment["spec"]["replicass"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    service = copy.deepcopy(find(default_docs, "Service", f"{RELEASE}-bridge"))
    service["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(service)


def test_bridge_drain_timing_and_probes(production_values: dict[str, Any]) -> None:
    docs = documents(render(production_values))
    pod = find(docs, "Deployment", f"{RELEASE}-bridge")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config = find(docs, "ConfigMap", f"{RELEASE}-config")["data"]
    shutdown = production_values["bridge"]["shutdown"]
    grace = int(config["MDBRIDGE_SHUTDOWN_GRACE_S"])
    assert grace == shutdown["graceSeconds"]
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == ["sleep", str(shutdown["preStopSleepSeconds"])]
    # Kubernetes waits for the preStop pause and the whole drain before it kills.
    assert pod["terminationGracePeriodSeconds"] == shutdown["preStopSleepSeconds"] + grace + 10
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"] == ["bridge"]


def test_every_pod_runs_as_non_root(default_docs: list[Manifest]) -> None:
    specs = pod_specs(default_docs)
    assert len(specs) == 4  # bridge, NATS, adapter primary and backup
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_checksums_roll_pods_when_config_changes() -> None:
    values: dict[str, Any] = {"auth": {"jwt": {"hs256Secret": "s" * 40}}}
    values["nats"] = {
        "auth": {
            "adapterPassword": "a",
            "bridgePassword": "b",
            "readerPassword": "r",
            "qualityPassword": "q",
            "adminPassword": "o",
        }
    }

    def annotations(overrides: dict[str, Any]) -> dict[str, str]:
        merged = copy.deepcopy(values)
        for key, value in overrides.items():
            merged.setdefault(key, {}).update(value)
        docs = documents(render(merged))
        template = find(docs, "Deployment", f"{RELEASE}-bridge")["spec"]["template"]
        result: dict[str, str] = template["metadata"]["annotations"]
        return result

    base = annotations({})
    assert base == annotations({})  # deterministic when every secret is given
    changed_config = annotations({"bridge": {"maxSubscriptions": 100}})
    assert changed_config["checksum/config"] != base["checksum/config"]
    assert changed_config["checksum/secret"] == base["checksum/secret"]
    changed_secret = annotations({"auth": {"jwt": {"hs256Secret": "t" * 40}}})
    assert changed_secret["checksum/secret"] != base["checksum/secret"]


def test_generated_secrets_are_random_and_complete(default_docs: list[Manifest]) -> None:
    nats = find(default_docs, "Secret", f"{RELEASE}-nats-auth")["data"]
    users = ("adapter", "bridge", "reader", "quality", "admin")
    assert set(nats) == {f"{user}-password" for user in users}
    assert len(set(nats.values())) == len(users)
    auth = find(default_docs, "Secret", f"{RELEASE}-auth")["data"]
    assert len(auth["hs256-secret"]) >= 40


def test_nats_cluster_config_is_accepted_by_nats_server(
    default_docs: list[Manifest], tmp_path: Path
) -> None:
    """The rendered nats.conf and its users, checked by the real nats-server (``-t``)."""
    sts = find(default_docs, "StatefulSet", f"{RELEASE}-nats")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    config = find(default_docs, "ConfigMap", f"{RELEASE}-nats-config")["data"]
    routes = re.findall(r"nats://(\S+):6222", config["nats.conf"])
    assert routes == [f"{RELEASE}-nats-{i}.{RELEASE}-nats-headless" for i in range(3)]
    assert "jetstream" in config["nats.conf"]
    for name, text in config.items():
        # The store and pid paths are the pod's; point them at the test's directory.
        text = text.replace("/data/jetstream", str(tmp_path / "js"))
        (tmp_path / name).write_text(text.replace("/var/run/nats", str(tmp_path)))
    env = dict(os.environ, SERVER_NAME=f"{RELEASE}-nats-0")
    users = ("ADAPTER", "BRIDGE", "READER", "QUALITY")
    env.update({f"MDBRIDGE_NATS_{user}_PASSWORD": user for user in users})
    env["MDBRIDGE_NATS_ADMIN_PASSWORD"] = "admin"
    check = [find_nats_server(), "-t", "-c", str(tmp_path / "nats.conf")]
    result = subprocess.run(check, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    del env["MDBRIDGE_NATS_ADMIN_PASSWORD"]  # and it really reads them: one missing fails
    result = subprocess.run(check, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "MDBRIDGE_NATS_ADMIN_PASSWORD" in result.stdout + result.stderr


def test_clients_list_every_nats_server(default_docs: list[Manifest]) -> None:
    config = find(default_docs, "ConfigMap", f"{RELEASE}-config")["data"]
    urls = config["MDBRIDGE_NATS_URL"].split(",")
    assert urls == [f"nats://{RELEASE}-nats-{i}.{RELEASE}-nats-headless:4222" for i in range(3)]
    assert config["MDBRIDGE_STREAM_REPLICAS"] == "3"


def test_external_nats_deploys_no_cluster() -> None:
    url = "nats://nats-a.example:4222,nats://nats-b.example:4222"
    docs = documents(render({"nats": {"deploy": False, "external": {"url": url}}}))
    assert not [doc for doc in docs if doc["kind"] == "StatefulSet"]
    assert find(docs, "ConfigMap", f"{RELEASE}-config")["data"]["MDBRIDGE_NATS_URL"] == url
    for doc in docs:
        validate(doc)


def test_ingress_keeps_websockets_open(production_docs: list[Manifest]) -> None:
    ingress = find(production_docs, "Ingress", f"{RELEASE}-bridge")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["spec"]["tls"][0]["hosts"] == ["md.example.com"]


def test_hpa_scales_on_cpu_and_connections(production_docs: list[Manifest]) -> None:
    hpa = find(production_docs, "HorizontalPodAutoscaler", f"{RELEASE}-bridge")
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "mdbridge_ws_connections_active"
    assert metrics["Pods"]["pods"]["target"]["averageValue"] == "1000"
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": 120}
    ]


def test_notes_tell_how_to_connect() -> None:
    notes = render({"auth": {"mode": "none"}})[f"{CHART.name}/templates/NOTES.txt"]
    assert "ws://127.0.0.1:8000/ws" in notes
    assert 'WARNING: auth.mode is "none"' in notes


# -- the values schema -------------------------------------------------------------------

BAD_VALUES: dict[str, dict[str, Any]] = {
    "replicas as a word": {"bridge": {"replicaCount": "three"}},
    "negative port": {"bridge": {"port": -1}},
    "port out of range": {"nats": {"ports": {"client": 70000}}},
    "unknown auth mode": {"auth": {"mode": "basic"}},
    "unknown key": {"bridge": {"replicas": 3}},
    "unknown top-level key": {"natsCluster": {}},
    "even NATS cluster": {"nats": {"replicas": 2}},
    "stream replicas above 5": {"streams": {"replicas": 7}},
    "external NATS without a URL": {"nats": {"deploy": False}},
    "a URL that is not NATS": {"nats": {"deploy": False, "external": {"url": "http://x"}}},
    "two backup publishers": {"adapters": {"backup": {"replicas": 2}}},
    "bad source id": {"adapters": {"primary": {"sourceId": "a b"}}},
    "bad memory quantity": {"bridge": {"resources": {"limits": {"memory": "lots"}}}},
    "grace of zero": {"bridge": {"shutdown": {"graceSeconds": 0}}},
    "log level": {"logLevel": "verbose"},
    "short HS256 secret": {"auth": {"jwt": {"hs256Secret": "too-short"}}},
    "unknown key file": {"auth": {"existingSecret": "k", "existingSecretKeys": ["key.txt"]}},
    "origin with a path": {"auth": {"allowedOrigins": ["https://desk.example.com/app"]}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_values_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(chart.merge_values(values))
        with pytest.raises(helm.HelmError):  # and a render refuses them too
            chart.render(values, name=RELEASE)


def test_values_schema_accepts_the_shipped_values(production_values: dict[str, Any]) -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(chart.values)
        chart.validate_schema(chart.merge_values(production_values))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nats": {"replicas": 1}}, "streams.replicas (3) cannot exceed nats.replicas (1)"),
        ({"bridge": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}, "minReplicas"),
    ],
)
def test_templates_refuse_inconsistent_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(values)


def _leaf_paths(node: Any, prefix: str = "") -> set[str]:
    if isinstance(node, dict) and node:
        return {p for key, value in node.items() for p in _leaf_paths(value, f"{prefix}.{key}")}
    return {prefix.lstrip(".")}


def _schema_paths(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> set[str]:
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    props = schema.get("properties")
    if not props or schema.get("additionalProperties") is not False:
        return {prefix.lstrip(".")}
    return {p for key, sub in props.items() for p in _schema_paths(sub, root, f"{prefix}.{key}")}


def test_schema_and_defaults_cover_the_same_keys() -> None:
    """Every default has a schema entry and every schema entry a documented default."""
    with helm.Chart.load(CHART) as chart:
        schema = chart.schema
        defaults = chart.values
    assert schema is not None
    schema_paths = _schema_paths(schema, schema)
    value_paths = _leaf_paths(defaults)
    # Free-form blocks (securityContext, resources...) are one schema path holding many keys.
    uncovered = {
        p for p in value_paths if not any(p == s or p.startswith(s + ".") for s in schema_paths)
    }
    assert uncovered == set()
    undocumented = {
        s for s in schema_paths if not any(p == s or p.startswith(s + ".") for p in value_paths)
    }
    assert undocumented == set()


def test_every_value_is_commented() -> None:
    """Each key of values.yaml has a comment above it, or sits in a block that has one."""
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    stack: list[tuple[int, bool]] = []  # (indent, commented) of the enclosing keys
    missing = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z_][\w-]*):", line)
        if not match:
            continue
        indent = len(match[1])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = lines[number - 1].strip() if number else ""
        commented = above.startswith("#")
        if not commented and not any(c for _, c in stack) and _is_leaf(lines, number, indent):
            missing.append(f"line {number + 1}: {line.strip()}")
        stack.append((indent, commented))
    assert missing == []


def _is_leaf(lines: list[str], number: int, indent: int) -> bool:
    if lines[number].split(":", 1)[1].strip():
        return True
    following = next((ln for ln in lines[number + 1 :] if ln.strip()), "")
    return len(following) - len(following.lstrip()) <= indent
