"""Turning client frames into requests, with errors a person can act on."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from bridge.errors import RequestError, describe
from schemas import ClientFrame, ErrorCode, MessageType

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 16
MAX_ID_CHARS = 64
MAX_ID_INT = 2**53


def _depth(value: Any, limit: int) -> int:
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def usable_id(raw: object) -> str | int | None:
    """The frame's ``id`` if it could be echoed (so even a refusal names its request)."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    if isinstance(value, int) and -MAX_ID_INT <= value <= MAX_ID_INT:
        return value
    return None


def peek_id(text: str) -> str | int | None:
    """The ``id`` of a frame that is about to be dropped (rate limit), or None."""
    try:
        return usable_id(orjson.loads(text))
    except orjson.JSONDecodeError:
        return None


def parse_frame(text: str) -> ClientFrame:
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RequestError(ErrorCode.BAD_REQUEST, "a frame must be a JSON object")
    request_id = usable_id(raw)
    if _depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"frame nested deeper than {MAX_JSON_DEPTH}",
            request_id=request_id,
        )
    try:
        frame = ClientFrame.model_validate(raw)
    except ValidationError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, describe(exc), request_id=request_id) from None
    # ping's data is anything (pong echoes it); every other request's data is an object
    if frame.type != MessageType.PING and not isinstance(frame.data, dict):
        raise RequestError(
            ErrorCode.BAD_REQUEST, "data: must be a JSON object", request_id=request_id
        )
    return frame


def parse_data(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, describe(exc)) from None
