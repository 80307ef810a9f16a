"""The findings book: what is wrong now, what was, and what changed since the last look. Pure."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from schemas import epoch_ms_to_iso
from schemas.quality import FindingKind, Severity

MAX_ACTIVE_LISTED = 500
MAX_RECENT = 100
_SEVERITY_ORDER = {"error": 0, "warning": 1}


@dataclass(slots=True)
class Finding:
    kind: FindingKind
    severity: Severity
    symbol: str | None
    source: str | None
    first_ms: int
    last_ms: int
    detail: str
    count: int = 1
    active: bool = True

    def msg_id(self) -> str:
        """One id per raise and per clear: a republished change dedupes in the broker."""
        state = "raised" if self.active else "cleared"
        return f"quality:{self.kind.value}:{self.symbol or self.source}:{self.first_ms}:{state}"

    def as_json(self) -> dict[str, Any]:
        """The ``schemas.quality.Finding`` shape."""
        last_seen = epoch_ms_to_iso(self.last_ms)
        return {
            "kind": "quality_finding",
            "check": self.kind.value,
            "severity": self.severity,
            "symbol": self.symbol,
            "source": self.source,
            "active": self.active,
            "first_seen": epoch_ms_to_iso(self.first_ms),
            "last_seen": last_seen,
            "timestamp": last_seen,
            "count": self.count,
            "message": self.detail,
        }


@dataclass
class FindingsBook:
    """Active findings keyed by (kind, subject); raised and cleared ones queue for publishing."""

    active: dict[tuple[FindingKind, str], Finding] = field(default_factory=dict)
    totals: Counter[FindingKind] = field(default_factory=Counter)
    recent: deque[Finding] = field(default_factory=lambda: deque(maxlen=MAX_RECENT))
    changes: list[Finding] = field(default_factory=list)  # to publish; taken by the monitor

    def raise_(
        self,
        kind: FindingKind,
        key: str,
        now_ms: int,
        detail: str,
        *,
        severity: Severity = "warning",
        symbol: str | None = None,
        source: str | None = None,
    ) -> None:
        finding = self.active.get((kind, key))
        if finding is not None:
            finding.count += 1
            finding.last_ms = now_ms
            finding.detail = detail
            return
        finding = Finding(kind, severity, symbol, source, now_ms, now_ms, detail)
        self.active[kind, key] = finding
        self.totals[kind] += 1
        self._changed(finding)

    def clear(self, kind: FindingKind, key: str, now_ms: int) -> None:
        finding = self.active.pop((kind, key), None)
        if finding is not None:
            finding.active = False
            finding.last_ms = now_ms
            self._changed(finding)

    def keys(self, kind: FindingKind) -> list[str]:
        return [key for k, key in self.active if k is kind]

    def _changed(self, finding: Finding) -> None:
        snapshot = Finding(
            **{name: getattr(finding, name) for name in Finding.__dataclass_fields__}
        )
        self.changes.append(snapshot)
        self.recent.appendleft(snapshot)

    def take_changes(self) -> list[Finding]:
        changes, self.changes = self.changes, []
        return changes

    def summary(self) -> dict[str, Any]:
        """The findings part of the report: counts, the active ones (errors first), recent."""
        ordered = sorted(
            self.active.values(), key=lambda f: (_SEVERITY_ORDER[f.severity], -f.last_ms)
        )
        return {
            "counts": dict(Counter(f.kind.value for f in self.active.values())),
            "totals": {kind.value: n for kind, n in self.totals.items()},
            "active": [f.as_json() for f in ordered[:MAX_ACTIVE_LISTED]],
            "recent": [f.as_json() for f in self.recent],
            "truncated": len(ordered) > MAX_ACTIVE_LISTED,
        }
