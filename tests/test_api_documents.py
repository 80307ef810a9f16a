"""The open documents: OpenAPI 3.1 and AsyncAPI 3.0 validate against their official JSON Schemas,
the message schemas match what a live bridge really sends, and ``mdbridge schema`` writes them."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT7

from bridge.rest.endpoints import ENDPOINTS
from bridge.rest.openapi import openapi_document
from bridge.rest.problems import PROBLEMS
from mdbridge import schema_cmd
from mdbridge.cli import build_parser
from mdbridge.natsserver import NatsServer
from schemas import DataType, ErrorCode, MessageType
from schemas.catalog import MESSAGES
from schemas.jsonschema import all_schemas
from tests.support.market import publish, put_directory
from tests.support.records import provision
from tests.support.servers import BridgeHandle, running_bridge

# Installed by `make install` (npm install @asyncapi/specs into the venv), never committed.
ASYNCAPI_SPEC = Path(sys.prefix) / "npm/node_modules/@asyncapi/specs/schemas/3.0.0.json"
SYMBOLS = ["601857.SH", "601088.SH", "000333.SZ", "000651.SZ"]


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await provision(nats_server.url)
    async with running_bridge(nats_server.url) as handle:
        yield handle


@pytest.fixture
async def documents(bridge: BridgeHandle) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        openapi = await http.get("/openapi.json")
        asyncapi = await http.get("/asyncapi.json")
    assert openapi.status_code == asyncapi.status_code == 200
    return {"openapi": openapi.json(), "asyncapi": asyncapi.json()}


def asyncapi_validator() -> jsonschema.Draft7Validator:
    assert ASYNCAPI_SPEC.is_file(), f"{ASYNCAPI_SPEC} missing: run `make install`"
    spec = json.loads(ASYNCAPI_SPEC.read_text())
    registry = Registry().with_resource(spec["$id"], DRAFT7.create_resource(spec))
    for key, definition in spec["definitions"].items():  # bundled, keyed by their $id
        registry = registry.with_resource(key, DRAFT7.create_resource(definition))
    return jsonschema.Draft7Validator(spec, registry=registry)


def test_openapi_document_is_valid_openapi_3_1(documents: dict[str, Any]) -> None:
    doc = documents["openapi"]
    validate_openapi(doc)  # the OpenAPI 3.1 schema shipped by openapi-spec-validator
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "/"}]
    assert {ep.path for ep in ENDPOINTS} == set(doc["paths"])
    broken = copy.deepcopy(doc)
    broken["paths"]["/v1/quotes/{symbol}"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def test_asyncapi_document_is_valid_asyncapi_3_0(documents: dict[str, Any]) -> None:
    doc = documents["asyncapi"]
    validator = asyncapi_validator()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = copy.deepcopy(doc)
    broken["operations"]["sendPong"]["action"] = "publish"  # AsyncAPI 2 wording
    broken["components"]["schemas"]["QuoteData"]["type"] = 5
    assert len(list(validator.iter_errors(broken))) == 2


def test_asyncapi_has_every_message_both_ways_and_every_subject(
    documents: dict[str, Any],
) -> None:
    doc = documents["asyncapi"]
    ws = doc["channels"]["websocket"]
    assert ws["address"] == "/ws"
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert {t.value for t in MessageType} <= names
    directions = {(s.kind, s.direction) for s in MESSAGES}
    for kind in (MessageType.SUBSCRIBE, MessageType.UNSUBSCRIBE, MessageType.MODIFY):
        assert {(kind, "client"), (kind, "server")} <= directions
    actions = {op["action"] for op in doc["operations"].values()}
    assert actions == {"send", "receive"}
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {
        "md.quote.{code}.{market}",
        "md.kline.{period}.{code}.{market}",
        "md.trade.{code}.{market}",
        "md.depth.{code}.{market}",
        "md.status.{source}",
        "md.status.symbol.{code}.{market}",
        "md.status.quality.report",
        "md.status.quality.finding",
    } <= addresses


def test_every_code_and_message_type_is_documented() -> None:
    assert set(PROBLEMS) == set(ErrorCode)
    assert {s.kind for s in MESSAGES} == set(MessageType)
    schemas = all_schemas()
    for spec in MESSAGES:
        assert spec.key in schemas
    for data_type in DataType:
        assert f"nats.{data_type.value}" in schemas


async def test_live_frames_match_the_message_schemas(
    nc: NatsClient, nats_server: NatsServer, bridge: BridgeHandle
) -> None:
    from websockets.asyncio.client import connect

    js = nc.jetstream()
    await put_directory(js, SYMBOLS)
    for symbol in SYMBOLS:
        await publish(js, DataType.QUOTE, symbol, 12.3)
    schemas = all_schemas()
    validators = {k: jsonschema.Draft202012Validator(s) for k, s in schemas.items()}
    requests: list[dict[str, Any]] = [
        {"type": "subscribe", "id": 1, "data": {"symbols": [*SYMBOLS[:2], "nope"]}},
        {"type": "subscribe", "id": 2, "data": {"symbol": "*.SZ", "data_type": "quote"}},
        {"type": "subscribe", "id": 3, "data": {"symbol": SYMBOLS[2], "data_type": "kline"}},
        {"type": "modify", "id": 4, "data": {"subscription_id": f"quote:{SYMBOLS[0]}:tick",
                                             "frequency": "1s"}},
        {"type": "list_subscriptions", "id": 5, "data": {}},
        {"type": "ping", "id": 6, "data": {"n": 1}},
        {"type": "auth", "id": 7, "data": {"token": "x"}},
        {"type": "ack", "id": 8, "data": {"subscription_id": "x", "seq": 1}},
        {"type": "unsubscribe", "id": 9, "data": {"symbols": [SYMBOLS[1]]}},
    ]  # fmt: skip
    seen: set[str] = set()
    async with connect(bridge.ws_url) as ws:
        for request in requests:
            validators[f"client.{request['type']}"].validate(request)
            await ws.send(orjson.dumps(request).decode())
        await publish(js, DataType.KLINE, SYMBOLS[2], 5.0)
        wanted = {"status", "subscribe", "modify", "list_subscriptions", "pong", "error",
                  "unsubscribe", "market_data", "kline_data", "batch"}  # fmt: skip
        while not wanted <= seen:
            try:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            except TimeoutError:
                raise AssertionError(f"never received {wanted - seen}") from None
            validators[f"server.{frame['type']}"].validate(frame)
            seen.add(frame["type"])
            for inner in frame["data"] if frame["type"] == "batch" else []:
                validators[f"server.{inner['type']}"].validate(inner)
                seen.add(inner["type"])
    with pytest.raises(jsonschema.ValidationError):
        validators["client.subscribe"].validate({"type": "subscribe", "data": {"symbol": 1}})


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
def test_mdbridge_schema_writes_every_schema_and_both_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [sys.executable, "-m", "mdbridge", "schema", "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    written = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert set(written) == set(all_schemas()) | {"openapi", "asyncapi"}
    for key, schema in all_schemas().items():
        assert written[key] == schema
        jsonschema.Draft202012Validator.check_schema(schema)
    assert written["openapi"] == openapi_document()
    for flags, expected in [(["--openapi"], openapi_document()), ([], all_schemas())]:
        schema_cmd.run(build_parser().parse_args(["schema", *flags]))
        assert json.loads(capsys.readouterr().out) == expected


async def test_docs_page_is_self_contained_html(bridge: BridgeHandle) -> None:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        page = await http.get("/docs/protocol")
        problem = (await http.get("/v1/symbols/999999.SH")).json()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html
    assert re.search(r'(src|href)="(https?:)?//', html) is None  # nothing fetched at run time
    for ep in ENDPOINTS:
        assert f'id="op-{ep.operation_id}"' in html
    anchor = problem["type"].partition("#")[2]
    assert anchor == "problem-UNKNOWN_SYMBOL"
    assert f'id="{anchor}"' in html
    assert 'id="schema-QuoteData"' in html
