"""``mdbridge schema``: the JSON Schema of every message, and the OpenAPI/AsyncAPI documents.

Without ``--out`` everything is printed as one JSON object keyed ``client.subscribe``,
``server.market_data``, ``nats.quote`` ...; with it, one ``<key>.json`` file per schema (plus
``openapi.json`` and ``asyncapi.json``) is written into that directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson


def add_parser(commands: Any) -> None:
    schema = commands.add_parser(
        "schema", help="print or write JSON Schemas, OpenAPI and AsyncAPI documents"
    )
    what = schema.add_mutually_exclusive_group()
    what.add_argument("--openapi", action="store_true", help="the REST API's OpenAPI 3.1")
    what.add_argument("--asyncapi", action="store_true", help="WebSocket + NATS, AsyncAPI 3.0")
    schema.add_argument("--out", type=Path, help="write one file per schema into this directory")


def documents(args: argparse.Namespace) -> dict[str, Any]:
    from bridge.rest.asyncapi import asyncapi_document
    from bridge.rest.openapi import openapi_document
    from schemas.jsonschema import all_schemas

    if args.openapi:
        return {"openapi": openapi_document()}
    if args.asyncapi:
        return {"asyncapi": asyncapi_document()}
    found: dict[str, Any] = dict(all_schemas())
    if args.out is not None:
        found |= {"openapi": openapi_document(), "asyncapi": asyncapi_document()}
    return found


def run(args: argparse.Namespace) -> int:
    docs = documents(args)
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    if args.out is None:
        single = next(iter(docs.values())) if len(docs) == 1 else docs
        print(orjson.dumps(single, option=options).decode())
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (args.out / f"{name}.json").write_bytes(orjson.dumps(doc, option=options) + b"\n")
    print(f"wrote {len(docs)} files to {args.out}")
    return 0
