"""Spans for the control path (connect, auth, subscribe, resume...), never per message.

A connection's ``ws.connect`` span continues the client's W3C ``traceparent`` (upgrade
request header) when there is one; every later control request of that connection is a child
of it, so one trace id follows a connection and is bound into its log lines. Finished spans
go to OTLP when an endpoint is configured and always into a small ring served by
``/admin/traces``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from schemas import logctx

RECENT_SPANS = 256


class RecentSpans(SpanProcessor):
    """The last finished spans, newest last (thread-safe: exporters may end spans anywhere)."""

    def __init__(self, size: int = RECENT_SPANS) -> None:
        self._spans: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        start, end = span.start_time or 0, span.end_time or 0
        row = {
            "name": span.name,
            "trace_id": f"{context.trace_id:032x}",
            "span_id": f"{context.span_id:016x}",
            "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "start_ms": start / 1e6,
            "duration_ms": round((end - start) / 1e6, 3),
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
        }
        with self._lock:
            self._spans.append(row)

    def rows(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._spans)[-limit:]


def trace_id_of(span: Span) -> str:
    return f"{span.get_span_context().trace_id:032x}"


class Tracing:
    def __init__(self, resource: Resource, otlp_endpoint: str | None) -> None:
        self.recent = RecentSpans()
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(self.recent)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("mdbridge.bridge")
        self._propagator = TraceContextTextMapPropagator()

    def connect(self, headers: Mapping[str, str], attributes: dict[str, Any]) -> Context:
        """Record ``ws.connect``; returns the context the connection's later spans descend from."""
        parent = self._propagator.extract(carrier=dict(headers))
        span = self.tracer.start_span(
            "ws.connect", context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        span.end()
        logctx.update(trace_id=trace_id_of(span))
        # Children need only the ids: holding the ended span (attributes, events) for the
        # connection's lifetime cost ~2.5 KB per idle connection (docs/benchmarks.md).
        return trace.set_span_in_context(NonRecordingSpan(span.get_span_context()))

    @contextmanager
    def control(self, parent: Context, name: str, attributes: dict[str, Any]) -> Iterator[Span]:
        """A span around one control request; errors mark it, the caller decides what to say."""
        with (
            self.tracer.start_as_current_span(
                name, context=parent, attributes=attributes, record_exception=False
            ) as span,
            logctx.scope(trace_id=trace_id_of(span)),
        ):
            try:
                yield span
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    def shutdown(self) -> None:
        self.provider.shutdown()
