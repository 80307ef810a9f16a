"""How every mdbridge process describes its metrics: resource and histogram views (pure data).

Readers and exporters (Prometheus registry, OTLP over HTTP) do I/O, so each process builds
them in its own package (bridge/observe/metrics.py, services/metrics.py); this module only says what
the metrics look like, so the bridge and the adapters describe them the same way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource


def service_resource(name: str, **attributes: Any) -> Resource:
    """``service.name`` plus an instance id (host:pid) and any further attributes."""
    return Resource.create(
        {
            "service.name": name,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            **attributes,
        }
    )


def histogram_views(buckets: Mapping[str, Sequence[float]]) -> list[View]:
    """Explicit bucket bounds per instrument name (wildcards allowed)."""
    return [
        View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds))
        for name, bounds in buckets.items()
    ]
