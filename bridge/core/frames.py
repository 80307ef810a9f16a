"""Building outgoing frames as text, once, without pydantic on the data path."""

from __future__ import annotations

import time
from typing import Any

import orjson

from schemas import ErrorCode, MessageType, StatusEvent
from schemas.timefmt import epoch_ms_to_iso


class Clock:
    """Envelope timestamps, formatted at most once per millisecond."""

    __slots__ = ("_iso", "_ms")

    def __init__(self) -> None:
        self._ms = -1
        self._iso = ""

    def now_iso(self) -> str:
        ms = int(time.time() * 1000)
        if ms != self._ms:
            self._ms = ms
            self._iso = epoch_ms_to_iso(ms)
        return self._iso


CLOCK = Clock()


def control_frame(
    type_: MessageType | str,
    data: Any,
    request_id: str | int | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:
    """A control-path frame (replies, status, errors): encoded with orjson."""
    frame: dict[str, Any] = {"type": str(type_)}
    if request_id is not None:
        frame["id"] = request_id
    frame["timestamp"] = CLOCK.now_iso()
    frame["data"] = data
    if metadata:
        frame["metadata"] = metadata
    return orjson.dumps(frame).decode()


def status_frame(event: StatusEvent, **fields: Any) -> str:
    return control_frame(MessageType.STATUS, {"event": event.value, **fields})


def error_frame(
    code: ErrorCode,
    message: str,
    request_id: str | int | None = None,
    *,
    suggestions: list[str] | None = None,
    limit: tuple[str, int] | None = None,
    retry_after_ms: int | None = None,
) -> str:
    data: dict[str, Any] = {"code": code.value, "message": message}
    if suggestions is not None:
        data["suggestions"] = suggestions
    if limit is not None:
        data["limit"] = {"name": limit[0], "value": limit[1]}
    if retry_after_ms is not None:
        data["retry_after_ms"] = retry_after_ms
    return control_frame(MessageType.ERROR, data, request_id)


def batch_frame(frames: list[str]) -> str:
    """Coalesce already-encoded frames into one ``batch`` frame by concatenation."""
    return (
        '{"type":"batch","timestamp":"' + CLOCK.now_iso() + '","data":[' + ",".join(frames) + "]}"
    )
