"""Source health from ``md.status.<source>`` heartbeats. Pure.

Silent: no status message for ``silent_ms`` (the process died or lost NATS), or, while the
market trades, a source that reports what it receives (``received``) and receives nothing.
A source that says ``down`` with a ``reason`` (its upstream failed) is a finding too; one that
says ``down`` without a reason stopped on purpose and is only listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import epoch_ms_to_iso
from schemas.quality import FindingKind
from services.quality.findings import FindingsBook


@dataclass(slots=True)
class _Source:
    seen_ms: int  # broker time of the last status message
    event: str
    reason: str
    received: int | None
    progress_ms: int  # when ``received`` last grew


class SourceHealth:
    def __init__(self, book: FindingsBook, silent_ms: int) -> None:
        self._book = book
        self._silent_ms = silent_ms
        self._sources: dict[str, _Source] = {}

    def status(self, payload: dict[str, Any], broker_ms: int) -> None:
        """One ``md.status.<source>`` message; other kinds (quality reports...) are not ours."""
        if "kind" in payload:
            return
        name = str(payload.get("source", "?"))[:64]
        received = payload.get("received")
        received = received if isinstance(received, int) else None
        source = self._sources.get(name)
        if source is None or broker_ms < source.seen_ms:
            if source is not None:
                return  # an older message than one already read
            source = self._sources[name] = _Source(broker_ms, "", "", received, broker_ms)
        if received is not None and (source.received is None or received > source.received):
            source.progress_ms = broker_ms
        source.seen_ms, source.received = broker_ms, received
        source.event = str(payload.get("event", "heartbeat"))
        source.reason = str(payload.get("reason") or "")

    def scan(self, now_ms: int, trading: bool) -> None:
        book = self._book
        for name, source in self._sources.items():
            detail = ""
            severity: Any = "error"
            if source.event == "down":
                if source.reason:
                    detail, severity = f"down: {source.reason}", "warning"
            elif now_ms - source.seen_ms > self._silent_ms:
                detail = f"no heartbeat since {epoch_ms_to_iso(source.seen_ms)}"
            elif (
                trading
                and source.received is not None
                and now_ms - source.progress_ms > self._silent_ms
            ):
                detail, severity = "heartbeats, but no data while the market trades", "warning"
            if detail:
                book.raise_(
                    FindingKind.SOURCE_SILENT, name, now_ms, detail, severity=severity, source=name
                )
            else:
                book.clear(FindingKind.SOURCE_SILENT, name, now_ms)

    def report(self, now_ms: int) -> dict[str, dict[str, Any]]:
        out = {}
        for name, source in self._sources.items():
            if source.event == "down":
                state = "down"
            elif now_ms - source.seen_ms > self._silent_ms:
                state = "silent"
            else:
                state = "up"
            out[name] = {
                "state": state,
                "last_seen": epoch_ms_to_iso(source.seen_ms),
                "received": source.received or 0,
                "detail": source.reason,
            }
        return out
