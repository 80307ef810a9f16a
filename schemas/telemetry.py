"""The metrics pipeline every mdbridge process builds the same way (construction only).

A MeterProvider whose readers are a *private* Prometheus registry (served by the process's own
``/metrics``; several apps in one process never collide) and, when an endpoint is given, a
periodic OTLP/HTTP exporter; explicit histogram buckets per instrument name; and a resource
naming the service and its instance. Shared here because the bridge and the adapters may not
import each other.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry


def service_resource(name: str, **attributes: Any) -> Resource:
    """``service.name`` plus an instance id (host:pid) and any further attributes."""
    return Resource.create(
        {
            "service.name": name,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            **attributes,
        }
    )


def meter_provider(
    resource: Resource,
    buckets: Mapping[str, Sequence[float]],
    otlp_endpoint: str | None = None,
    otlp_interval_s: float = 15.0,
) -> tuple[MeterProvider, CollectorRegistry]:
    """The provider and the registry to serve; ``buckets`` maps instrument names (wildcards
    allowed) to histogram bucket bounds."""
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [
        PrometheusMetricReader(registry=registry, scope_info_enabled=False)
    ]
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/metrics")
        readers.append(
            PeriodicExportingMetricReader(exporter, export_interval_millis=otlp_interval_s * 1000)
        )
    views = [
        View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds))
        for name, bounds in buckets.items()
    ]
    provider = MeterProvider(resource=resource, metric_readers=readers, views=views)
    return provider, registry
