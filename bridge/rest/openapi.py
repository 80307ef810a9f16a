"""The OpenAPI 3.1 document of the REST API, generated from the endpoint declarations
(bridge/rest/endpoints.py) and the pydantic models in schemas/ — never written by hand."""

from __future__ import annotations

import re
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bridge.rest.endpoints import ENDPOINTS
from bridge.rest.kit import JSON, Endpoint
from bridge.rest.problems import PROBLEM_JSON, status_of
from bridge.runtime import VERSION
from schemas import ErrorCode
from schemas.rest import Problem

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"\{(\w+)\}")
ALWAYS = (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL)
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "the same tokens as /ws (HS256, RS256 or ES256); also accepted as "
        "?token=. Needed only when the server runs with auth on.",
    }
}

TAGS = [
    {"name": "symbols", "description": "the symbol directory (KV bucket md_symbols)"},
    {"name": "quotes", "description": "latest values, as the WebSocket snapshots them"},
    {"name": "history", "description": "K-lines and trades from the streams' history"},
    {"name": "market", "description": "trading phase and data-source health"},
]

PATH_PARAMS = {
    "symbol": {
        "description": "a symbol: 6-digit code and market, e.g. 600000.SH",
        "schema": {"type": "string", "maxLength": 32, "examples": ["600000.SH"]},
    }
}

SNAPSHOT_HEADERS = {
    "X-Stream-Seq": {
        "description": "JetStream stream sequence of the value (the WebSocket's metadata.seq)",
        "schema": {"type": "integer"},
    },
    "X-Stream-Epoch": {"description": "the stream's epoch", "schema": {"type": "string"}},
}
CACHE_HEADERS = {
    "ETag": {"description": "version of this representation", "schema": {"type": "string"}},
    "Cache-Control": {"description": "how long it may be reused", "schema": {"type": "string"}},
}


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    models += [(ep.response, "serialization") for ep in ENDPOINTS]
    models += [(ep.query, "validation") for ep in ENDPOINTS if ep.query is not None]
    _, schema = models_json_schema(models, ref_template=REF)
    defs: dict[str, Any] = schema["$defs"]
    for ep in ENDPOINTS:
        if ep.query is not None:  # shown as parameters, not as a schema
            defs.pop(ep.query.__name__, None)
    return defs


def _query_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema(ref_template=REF, mode="validation")
    return schema


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value; ``null`` is not something a URL can say."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **merged}
    return schema


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, **PATH_PARAMS[name]}
        for name in PATH_PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        schema = _query_schema(ep.query)
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            prop = _non_null(prop)
            prop.pop("title", None)
            if prop.get("default", 0) is None:
                prop.pop("default")
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "description": prop.pop("description", ""),
                    "schema": prop,
                }
            )
    if ep.cached:
        params.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "an ETag from an earlier response: 304 if still current",
                "schema": {"type": "string"},
            }
        )
    return params


def _responses(ep: Endpoint) -> dict[str, Any]:
    headers = {**CACHE_HEADERS, **(SNAPSHOT_HEADERS if ep.seq_headers else {})}
    responses: dict[str, Any] = {
        "200": {
            "description": ep.response.__doc__ or "OK",
            "headers": headers if ep.cached else {},
            "content": {JSON: {"schema": {"$ref": REF.format(model=ep.response.__name__)}}},
        }
    }
    if ep.cached:
        responses["304"] = {"description": "Not Modified: the If-None-Match ETag is current"}
    by_status: dict[int, list[str]] = {}
    for code in (*ep.errors, *ALWAYS):
        by_status.setdefault(status_of(code), []).append(code.value)
    for status, codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": f"{HTTPStatus(status).phrase}: code {' or '.join(codes)}",
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    return responses


@lru_cache(maxsize=8)
def _cached_document(root_path: str) -> dict[str, Any]:
    paths = {
        ep.path: {
            "get": {
                "operationId": ep.operation_id,
                "summary": ep.summary,
                "description": ep.description,
                "tags": [ep.tag],
                "parameters": _parameters(ep),
                "responses": _responses(ep),
            }
        }
        for ep in ENDPOINTS
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mdbridge REST API",
            "version": VERSION,
            "summary": "China A-share market data: latest values, history, directory, status",
            "description": (
                "The REST face of mdbridge. It reads the same JetStream data as the WebSocket "
                "(`/ws`, described in `/asyncapi.json`): a value's `metadata.seq` is its stream "
                "sequence on both. Errors are RFC 9457 problem details whose `code` is the "
                "WebSocket's error code."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": root_path or "/"}],
        "tags": TAGS,
        "paths": paths,
        # Optional: a server with auth off (the local default) needs no token.
        "security": [{}, {"bearer": []}],
        "components": {"schemas": _components(), "securitySchemes": SECURITY_SCHEMES},
    }


def openapi_document(root_path: str = "") -> dict[str, Any]:
    """The document; ``root_path`` is where the app is mounted (its server URL)."""
    return _cached_document(root_path)
