"""Turning client frames into requests, with errors a person can act on."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from bridge.errors import RequestError, describe
from schemas import ClientFrame, ErrorCode

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 16


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


def parse_frame(text: str) -> ClientFrame:
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RequestError(ErrorCode.BAD_REQUEST, "a frame must be a JSON object")
    if _depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise RequestError(ErrorCode.BAD_REQUEST, f"frame nested deeper than {MAX_JSON_DEPTH}")
    try:
        return ClientFrame.model_validate(raw)
    except ValidationError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, describe(exc)) from None


def parse_data(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, describe(exc)) from None
