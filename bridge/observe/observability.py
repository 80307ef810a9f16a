"""Everything that lets people see the bridge run, composed once per app in its lifespan.

Metrics, control-path tracing, the connection book, the monitor and its alerts, and the view
of the sources' status. ``watch`` is the one hook the WebSocket endpoint calls for each
connection; :class:`~bridge.observe.accesslog.AccessMiddleware` reports how each connection ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span
from starlette.websockets import WebSocket

from bridge.market.statusboard import StatusBoard
from bridge.observe.alerts import AlertBook, Thresholds
from bridge.observe.connbook import ConnectionBook, ConnectionInfo
from bridge.observe.hops import HopTap
from bridge.observe.metrics import BridgeMetrics, Observed
from bridge.observe.monitor import Monitor
from bridge.observe.probe import LatencySampler, WriterProbe
from bridge.observe.procstats import ProcessStats
from bridge.observe.tracing import Tracing
from bridge.runtime import Runtime
from bridge.settings import BridgeSettings
from bridge.ws.hooks import CURRENT
from bridge.ws.session import Session
from processkit.telemetry import service_resource
from schemas import logctx
from schemas.subjects import SUBJECT_ROOT

logger = logging.getLogger(__name__)

ALERTS_SUBJECT = f"{SUBJECT_ROOT}.alerts"
SCOPE_KEY = "mdbridge.connection_id"  # set in the ASGI scope so the middleware can retire it
TRANSPORT_KEY = "mdbridge.transport"  # the server's protocol object, when the middleware saw it
MAX_USER_AGENT = 256


class _ConnectionTelemetry:
    """What ``bridge.ws.hooks`` reaches through its context variable, per connection."""

    __slots__ = ("_info", "_obs")

    def __init__(self, obs: Observability, info: ConnectionInfo) -> None:
        self._obs = obs
        self._info = info

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any]) -> Iterator[Span]:
        attributes["mdbridge.connection_id"] = self._info.id
        parent = self._info.trace_context
        if parent is None:  # watch() sets it before any request can run
            raise RuntimeError(f"connection {self._info.id} has no trace context yet")
        with self._obs.tracing.control(parent, name, attributes) as span:
            yield span

    def resume_result(self, recovered: bool) -> None:
        self._obs.metrics.resume_result(recovered)


class Observability:
    def __init__(self, runtime: Runtime, settings: BridgeSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.started_at = time.time()
        resource = service_resource("mdbridge-bridge")
        self.metrics = BridgeMetrics(resource, settings.otlp_endpoint, settings.otlp_interval_s)
        self.tracing = Tracing(resource, settings.otlp_endpoint)
        self.connections = ConnectionBook()
        self.process = ProcessStats()
        self.sampler = LatencySampler(settings.latency_samples_per_s, self.metrics.record_latency)
        self.tap = HopTap(runtime.hub.feeds())
        self.status: StatusBoard = runtime.status_board  # the runtime follows md.status.>
        self.alerts = AlertBook(
            Thresholds(
                max_connections=settings.alert_max_connections,
                max_latency_ms=settings.alert_max_latency_ms,
                max_error_rate_percent=settings.alert_max_error_rate_percent,
                max_memory_mb=settings.alert_max_memory_mb,
                min_requests=settings.alert_min_requests,
            ),
            self._publish_alert,
        )
        self.monitor = Monitor(
            connections=self.connections,
            sampler=self.sampler,
            process=self.process,
            status=self.status,
            alerts=self.alerts,
            nats_in=lambda: runtime.hub.messages_in,
            # Our own drain closes NATS on purpose: no nats_disconnected alert for a clean stop.
            nats_connected=lambda: runtime.nc.is_connected or runtime.draining,
            subscriptions=lambda: sum(len(c.members) for c in runtime.hub.channels()),
            interval_s=settings.monitor_interval_s,
            window_s=settings.monitor_window_s,
        )
        self.metrics.observe(
            Observed(
                runtime=runtime,
                connections=self.connections,
                status=self.status,
                alerts=self.alerts,
                process=self.process,
                monitor=self.monitor,
            )
        )

    @classmethod
    async def start(cls, runtime: Runtime, settings: BridgeSettings) -> Observability:
        obs = cls(runtime, settings)
        obs.monitor.start()
        return obs

    async def stop(self) -> None:
        await self.monitor.close()
        for info in self.connections.infos():
            info.probe.set_trace(False)
        # Shutting down flushes OTLP exports with blocking HTTP: keep it off the event loop.
        await asyncio.to_thread(self.metrics.shutdown)
        await asyncio.to_thread(self.tracing.shutdown)

    async def _publish_alert(self, body: bytes) -> None:
        await self.runtime.nc.publish(ALERTS_SUBJECT, body)

    # -- connections ---------------------------------------------------------------------------

    def watch(self, websocket: WebSocket, session: Session) -> ConnectionInfo:
        client = websocket.client
        info = ConnectionInfo(
            session=session,
            websocket=websocket,
            probe=WriterProbe(self.sampler, self.tap),
            remote=f"{client.host}:{client.port}" if client else "",
            user_agent=websocket.headers.get("user-agent", "")[:MAX_USER_AGENT],
            transport=websocket.scope.get(TRANSPORT_KEY),
        )
        session.probe = info.probe
        logctx.update(connection_id=session.id)
        info.trace_context = self.tracing.connect(
            websocket.headers,
            {
                "mdbridge.connection_id": session.id,
                "client.address": info.remote,
                "user_agent.original": info.user_agent,
                "enduser.id": session.principal.subject,
                "mdbridge.tier": session.principal.tier,
            },
        )
        self.connections.add(info)
        websocket.scope[SCOPE_KEY] = session.id
        CURRENT.set(_ConnectionTelemetry(self, info))
        return info

    def ended(self, scope: MutableMapping[str, Any], code: int) -> None:
        """Called by the middleware once a WebSocket is over (accepted or not)."""
        self.metrics.connection_closed(code)
        connection_id = scope.get(SCOPE_KEY)
        if connection_id is not None:
            self.connections.retire(connection_id)
            logger.info("connection %s closed with %d", connection_id, code)

    async def disconnect(self, connection_id: str, code: int, reason: str) -> bool:
        info = self.connections.get(connection_id)
        if info is None:
            return False
        logger.warning(
            "closing connection %s by admin request (%d %s)",
            connection_id,
            code,
            reason,
            extra={"connection_id": connection_id},
        )
        with contextlib.suppress(Exception):  # already closing: the end is the same
            await info.websocket.close(code=code, reason=reason)
        return True


def watch(websocket: WebSocket, session: Session) -> None:
    """The WebSocket endpoint's hook, right after the session is registered."""
    obs: Observability | None = getattr(websocket.app.state, "observability", None)
    if obs is not None:
        obs.watch(websocket, session)
