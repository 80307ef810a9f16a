"""OTLP export: metrics and control-path spans reach a collector over OTLP/HTTP (protobuf)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from nats.aio.client import Client as NatsClient
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mdbridge.natsserver import NatsServer, free_port
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient


class Collector:
    """A minimal OTLP/HTTP receiver: keeps every request body by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {"/v1/metrics": [], "/v1/traces": []}
        self.port = free_port()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.bodies.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    def metric_names(self) -> set[str]:
        names: set[str] = set()
        for body in self.bodies["/v1/metrics"]:
            request = ExportMetricsServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    names.update(metric.name for metric in scope.metrics)
        return names

    def span_names(self) -> list[str]:
        names: list[str] = []
        for body in self.bodies["/v1/traces"]:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    names.extend(span.name for span in scope.spans)
        return names


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    thread = threading.Thread(target=collector.server.serve_forever, daemon=True)
    thread.start()
    yield collector
    collector.server.shutdown()
    collector.server.server_close()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_metrics_and_spans_are_exported_over_otlp(
    nc: NatsClient, nats_server: NatsServer, collector: Collector
) -> None:
    endpoint = f"http://127.0.0.1:{collector.port}"
    async with running_bridge(
        nats_server.url, otlp_endpoint=endpoint, otlp_interval_s=0.2
    ) as bridge:
        client = await WsClient.open(bridge.ws_url)
        await client.request("list_subscriptions")
        for _ in range(100):
            if "mdbridge.ws.connections.active" in collector.metric_names():
                break
            await asyncio.sleep(0.05)
        await client.close()
    names = collector.metric_names()
    assert {
        "mdbridge.ws.connections.active",
        "mdbridge.ws.messages.out",
        "mdbridge.nats.messages.in",
        "mdbridge.process.memory.rss",
    } <= names
    spans = collector.span_names()  # flushed when the bridge stopped
    assert "ws.connect" in spans
    assert "ws.list_subscriptions" in spans
