"""The Helm chart rendered offline (Helm's own Go SDK through ``helm-python-sdk``), and the
plain manifests of ``k8s/`` generated from it.

``k8s/`` is the chart rendered with ``k8s/values.yaml``, one file per component, so the two
never drift: ``python -m tests.support.deploy`` (``make k8s``) rewrites it and a test checks
that what is committed is what the chart renders.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "mdbridge"
PRODUCTION_VALUES = CHART / "values-production.yaml"
K8S = REPO / "k8s"
K8S_VALUES = K8S / "values.yaml"
RELEASE = "mdbridge"
NAMESPACE = "mdbridge"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest whose
# schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
# Prometheus Operator kinds: no Kubernetes schema exists for them (see check_custom_resource).
CUSTOM_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}

GENERATED_HEADER = (
    "# Generated from helm/mdbridge with k8s/values.yaml by `make k8s`: edit the chart or the\n"
    "# values, not this file.\n"
)
# Labels that say Helm manages an object: wrong for manifests applied with kubectl.
_HELM_ONLY_LABEL = re.compile(r"^\s*(helm\.sh/chart|app\.kubernetes\.io/managed-by): .*\n", re.M)
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
# Apply order: what others reference first.
_ORDER = ("namespace", "serviceaccount", "configmap", "secret", "nats-", "bridge-", "adapters-")

Manifest = dict[str, Any]


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def render(values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> dict[str, str]:
    """Template path (``mdbridge/templates/...``) to rendered text, as ``helm template``."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=namespace, is_install=True)


def documents(rendered: dict[str, str]) -> list[Manifest]:
    """Every Kubernetes object in a render (NOTES.txt and empty templates left out)."""
    docs: list[Manifest] = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            docs += [doc for doc in yaml.safe_load_all(rendered[path]) if doc]
    return docs


def find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"no {kind} {name}")


def validate(doc: Manifest) -> None:
    """Against the Kubernetes schemas (strict: unknown fields fail) of every KUBE_VERSIONS."""
    if doc["kind"] in CUSTOM_KINDS:
        check_custom_resource(doc)
        return
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def check_custom_resource(doc: Manifest) -> None:
    """ServiceMonitor, PodMonitor and PrometheusRule are CRDs of the Prometheus Operator:
    Kubernetes ships no schema for them and kubernetes-validate has none, so their required
    fields are checked here; PromQL expressions are parsed by the monitoring tests."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1", doc["apiVersion"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    spec = doc["spec"]
    if doc["kind"] in {"ServiceMonitor", "PodMonitor"}:
        assert spec["selector"]["matchLabels"], "a monitor must select what it scrapes"
        endpoints = spec["endpoints" if doc["kind"] == "ServiceMonitor" else "podMetricsEndpoints"]
        assert endpoints, "a monitor needs endpoints"
        for endpoint in endpoints:
            assert endpoint["port"]
            assert endpoint["path"].startswith("/")
    else:
        assert spec["groups"], "a PrometheusRule needs groups"
        for group in spec["groups"]:
            assert group["name"]
            assert group["rules"]
            for rule in group["rules"]:
                assert set(rule) >= {"alert", "expr"}, rule
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def k8s_manifests() -> dict[str, str]:
    """File name in ``k8s/`` to content, rendered from the chart with ``k8s/values.yaml``."""
    rendered = render(load_yaml(K8S_VALUES))
    files: dict[str, str] = {
        "namespace.yaml": yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            sort_keys=False,
        )
    }
    for path, text in rendered.items():
        if not path.endswith(".yaml") or not any(yaml.safe_load_all(text)):
            continue
        name = path.split("/templates/", 1)[1].replace("/", "-")
        text = _TRAILING_SPACE.sub("\n", _HELM_ONLY_LABEL.sub("", text))
        files[name] = text.strip() + "\n"
    ordered = sorted(files, key=_apply_rank)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": ordered,
    }
    out = {name: GENERATED_HEADER + files[name] for name in ordered}
    out["kustomization.yaml"] = GENERATED_HEADER + yaml.safe_dump(kustomization, sort_keys=False)
    return out


def _apply_rank(name: str) -> tuple[int, str]:
    for rank, prefix in enumerate(_ORDER):
        if name.startswith(prefix):
            return rank, name
    return len(_ORDER), name


def write_k8s() -> list[Path]:
    """Rewrite the generated files of ``k8s/`` (values.yaml and README.md are kept)."""
    manifests = k8s_manifests()
    for stale in K8S.glob("*.yaml"):
        if stale.name != K8S_VALUES.name and stale.name not in manifests:
            stale.unlink()
    written = []
    for name, text in manifests.items():
        path = K8S / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_k8s():
        print(path.relative_to(REPO), file=sys.stderr)
