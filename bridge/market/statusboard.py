"""What the sources say about themselves on ``md.status.>``: their health and data quality.

Adapters publish ``up`` / ``heartbeat`` / ``down`` on ``md.status.<source_id>``; the data-quality
monitor publishes there too. This view reads the ``MD_STATUS`` stream (the last message of each
subject first, then live) and keeps, bounded:

* per source: the last status and when the broker stored it; a source is *up* when its last
  event is not one of ``DOWN_EVENTS`` (``down``, ``error``, ``disconnected``) and it spoke
  within ``source_timeout_s`` (so a bridge that starts after a source died sees it down at
  once); listeners (bridge/market/sources.py) hear each source status as it comes;
* quality reports: payloads with ``"kind": "quality_report"`` (or on a subject ending in
  ``.quality``), the latest per subject;
* quality findings: payloads with ``"kind": "quality"`` / ``"quality_finding"``, the most recent
  ``MAX_FINDINGS``.

Source status is on one-token subjects only: deeper ones (``md.status.symbol.<symbol>``
trading-status events, ``md.status.quality.*``) never count as a source.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from schemas import STATUS_STREAM, epoch_ms_to_iso
from schemas.subjects import STATUS_PREFIX

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_SOURCES = 1024
MAX_FINDINGS = 200
REPORT_KINDS = frozenset({"quality_report"})
FINDING_KINDS = frozenset({"quality", "quality_finding"})
# The one meaning of "down" for every reader: WebSocket notices, /v1/market/status, the
# dashboard, the mdbridge.source.up metric and its alert.
DOWN_EVENTS = frozenset({"down", "error", "disconnected"})
IDLE_HEARTBEAT_S = 2.0

# (source id, its status payload, broker time in epoch seconds): a source spoke
SourceListener = Callable[[str, dict[str, Any], float], None]


def source_event(payload: dict[str, Any]) -> str:
    return str(payload.get("event") or payload.get("status") or "")


def is_up(event: str, age_s: float, timeout_s: float) -> bool:
    """A source is up when its last word is not a down event and it spoke recently."""
    return event not in DOWN_EVENTS and age_s <= timeout_s


class StatusBoard:
    def __init__(self, js: JetStreamContext, source_timeout_s: float) -> None:
        self._js = js
        self._timeout_s = source_timeout_s
        self._sub: JetStreamContext.PushSubscription | None = None
        # source id -> (last payload, broker time in epoch seconds)
        self._sources: dict[str, tuple[dict[str, Any], float]] = {}
        self._reports: dict[str, tuple[dict[str, Any], float]] = {}
        self.findings: deque[dict[str, Any]] = deque(maxlen=MAX_FINDINGS)
        self.received = 0
        self.listeners: list[SourceListener] = []  # e.g. the WebSocket source notices

    async def start(self) -> None:
        """Follow ``md.status.>``: the bridge's only reader of it."""
        self._sub = await self._js.subscribe(
            f"{STATUS_PREFIX}.>",
            stream=STATUS_STREAM,
            cb=self._on_message,
            ordered_consumer=True,
            idle_heartbeat=IDLE_HEARTBEAT_S,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT),
        )

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_message(self, msg: Msg) -> None:
        self.received += 1
        if len(msg.data) > MAX_PAYLOAD_BYTES:
            return
        try:
            payload = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            logger.debug("ignoring a non-JSON status message on %s", msg.subject)
            return
        if not isinstance(payload, dict):
            return
        stored = msg.metadata.timestamp
        self.accept(msg.subject, payload, stored.timestamp() if stored else time.time())

    def accept(self, subject: str, payload: dict[str, Any], stored_s: float) -> None:
        kind = payload.get("kind")
        if kind in REPORT_KINDS or subject.endswith(".quality"):
            self._reports[subject] = (payload, stored_s * 1000)
        elif kind in FINDING_KINDS:
            self.findings.append(payload | {"subject": subject})
        elif "." not in subject[len(STATUS_PREFIX) + 1 :]:
            source = str(payload.get("source") or subject[len(STATUS_PREFIX) + 1 :])[:64]
            if source in self._sources or len(self._sources) < MAX_SOURCES:
                self._sources[source] = (payload, stored_s)
                for listener in self.listeners:
                    listener(source, payload, stored_s)

    # -- views -------------------------------------------------------------------------------

    def sources(self) -> list[dict[str, Any]]:
        now = time.time()
        rows = []
        for source, (payload, seen) in sorted(self._sources.items()):
            event = source_event(payload)
            age = max(0.0, now - seen)
            rows.append(
                {
                    "source": source,
                    "up": is_up(event, age, self._timeout_s),
                    "event": event,
                    "age_s": round(age, 3),
                    "stored_at": epoch_ms_to_iso(seen * 1000),
                    "status": payload,
                }
            )
        return rows

    def health(self) -> dict[str, bool]:
        return {row["source"]: row["up"] for row in self.sources()}

    def quality(self) -> dict[str, Any]:
        reports = [
            {"subject": subject, "stored_at": epoch_ms_to_iso(at), "report": payload}
            for subject, (payload, at) in sorted(self._reports.items())
        ]
        return {
            "source": f"NATS {STATUS_PREFIX}.> (stream {STATUS_STREAM})",
            "reports": reports,
            "findings": list(self.findings),
            "note": None
            if reports or self.findings
            else "no data-quality report has been published on md.status.> yet",
        }
