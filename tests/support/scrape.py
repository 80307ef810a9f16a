"""Reading the bridge's observability endpoints the way Prometheus and an operator would."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    """Every sample of ``/metrics``, keyed by (sample name, labels); the text must parse."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    if key not in samples:
        known = sorted({n for n, _ in samples if n.startswith(name.rsplit("_", 1)[0])})
        raise AssertionError(f"no sample {name}{labels}; similar: {known}")
    return samples[key]


async def admin(base_url: str, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    if method not in ("GET", "HEAD"):  # as the dashboard does: no cross-site request can
        kwargs["headers"] = {"X-Requested-With": "mdbridge"} | kwargs.get("headers", {})
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.request(method, f"{base_url}/admin{path}", **kwargs)
