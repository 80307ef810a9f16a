"""Trading phase and source health, from the last message of every ``md.status.<source>``."""

from __future__ import annotations

import time
from typing import Any

import orjson

from bridge.history import DirectReader, Stored
from schemas import STATUS_STREAM, TradingPhase
from schemas.subjects import STATUS_PREFIX
from schemas.timefmt import epoch_ms_to_iso

# Status events after which a source is down however recent the message.
DOWN_EVENTS = frozenset({"down", "source_down", "stopped", "stopping", "error", "disconnected"})


def _phase(value: Any) -> TradingPhase | None:
    try:
        return TradingPhase(value)
    except ValueError:
        return None


def source_health(msg: Stored, now_ms: int, timeout_s: float) -> dict[str, Any]:
    subject, seq, stored_ms, data = msg
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    event = body.get("event")
    age_s = max(0.0, (now_ms - stored_ms) / 1000)
    return {
        "source": str(body.get("source") or subject.removeprefix(STATUS_PREFIX + ".")),
        "up": age_s <= timeout_s and event not in DOWN_EVENTS,
        "event": event if isinstance(event, str) else None,
        "phase": _phase(body.get("phase")),
        "last_seen": epoch_ms_to_iso(stored_ms),
        "age_s": round(age_s, 3),
        "seq": seq,
    }


async def market_status(
    reader: DirectReader, *, timeout_s: float, nats_connected: bool, epochs: dict[str, str]
) -> dict[str, Any]:
    """The ``MarketStatus`` body: every source's last word, and the phase of the first one up."""
    now_ms = int(time.time() * 1000)
    last = await reader.last_of(STATUS_STREAM, [f"{STATUS_PREFIX}.>"])
    sources = sorted(
        (source_health(msg, now_ms, timeout_s) for msg in last), key=lambda s: s["source"]
    )
    phase = next(
        (s["phase"] for s in sources if s["up"] and s["phase"] is not None), TradingPhase.UNKNOWN
    )
    return {
        "phase": phase,
        "sources": sources,
        "nats_connected": nats_connected,
        "epochs": epochs,
        "timestamp": epoch_ms_to_iso(now_ms),
    }
