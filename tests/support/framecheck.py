"""Every frame a test client receives, checked against the bridge's own ``/asyncapi.json``.

The document is built in-process by the same function the ``/asyncapi.json`` route serves
(a test compares the two), and one validator per server message type is compiled once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema

from bridge.rest.asyncapi import asyncapi_document
from schemas.catalog import MESSAGES

Frame = dict[str, Any]


class FrameSchemaError(AssertionError):
    """A frame the bridge sent does not match its published schema."""


@cache
def server_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """``{"market_data": validator, ...}`` for every message the server sends on ``/ws``."""
    document = asyncapi_document()
    components = document["components"]
    on_ws = document["channels"]["websocket"]["messages"]
    validators: dict[str, jsonschema.Draft202012Validator] = {}
    for spec in MESSAGES:
        if spec.direction != "server":
            continue
        message = components["messages"][on_ws[spec.name]["$ref"].rsplit("/", 1)[-1]]
        schema = {"$ref": message["payload"]["$ref"], "components": components}
        validators[message["name"]] = jsonschema.Draft202012Validator(schema)
    return validators


def check_frame(frame: Frame) -> None:
    """Raise FrameSchemaError unless ``frame`` is a message the bridge documents sending."""
    validator = server_validators().get(str(frame.get("type")))
    if validator is None:
        raise FrameSchemaError(f"undocumented frame type {frame.get('type')!r}: {frame}")
    error = jsonschema.exceptions.best_match(validator.iter_errors(frame))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        raise FrameSchemaError(
            f"{frame.get('type')} frame breaks /asyncapi.json at {path}: {error.message}\n{frame}"
        )
