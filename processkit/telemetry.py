"""Every process's metrics pipeline: resource, histogram views, Prometheus and OTLP readers.

The bridge (bridge/observe/metrics.py) and the adapters (services/metrics.py) build their
meter provider here, so both describe and export their metrics the same way: a Prometheus
registry of the process's own, plus a periodic OTLP/HTTP export when an endpoint is set.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry

from processkit.distribution import distribution_version
from processkit.errors import MissingPackageError

Attrs = dict[str, str]
Reading = float | Sequence[tuple[float, Attrs]]


def service_resource(name: str, **attributes: Any) -> Resource:
    """``service.name``, the version, an instance id (host:pid) and any further attributes."""
    return Resource.create(
        {
            "service.name": name,
            "service.version": distribution_version(),
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


class MeterPipeline(NamedTuple):
    provider: MeterProvider
    registry: CollectorRegistry  # the process's own: render it with generate_latest


def meter_pipeline(
    resource: Resource,
    buckets: Mapping[str, Sequence[float]],
    otlp_endpoint: str | None,
    otlp_interval_s: float,
) -> MeterPipeline:
    """A meter provider read by a Prometheus registry and, with an endpoint, exported by OTLP."""
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [
        PrometheusMetricReader(registry=registry, scope_info_enabled=False)
    ]
    if otlp_endpoint:
        exporter = _otlp_exporter(otlp_endpoint)
        interval_ms = otlp_interval_s * 1000
        readers.append(PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms))
    provider = MeterProvider(
        resource=resource, metric_readers=readers, views=histogram_views(buckets)
    )
    return MeterPipeline(provider, registry)


def _otlp_exporter(endpoint: str) -> Any:
    """Imported only when asked for: the adapter host's extras leave OTLP out."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        raise MissingPackageError(
            "an OTLP endpoint is set but the OTLP exporter is not installed: "
            "pip install opentelemetry-exporter-otlp-proto-http"
        ) from exc
    return OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics")


def observe(read: Callable[[], Reading]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """An observable instrument's callback: one value, or values with their attributes."""

    def callback(options: CallbackOptions) -> Iterable[Observation]:
        value = read()
        if isinstance(value, int | float):
            return [Observation(value)]
        return [Observation(v, attrs) for v, attrs in value]

    return callback
