"""The AsyncAPI 3.0 document: the ``/ws`` channel with every message both ways, and the NATS
subjects and streams backend services read. Generated from schemas/catalog.py and the pydantic
models — never written by hand."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bridge.runtime import VERSION
from schemas import KLINE_PERIODS, STATUS_STREAM, STREAM_BY_TYPE, SYMBOLS_BUCKET, DataType
from schemas.catalog import MESSAGES, MessageSpec, message_models
from schemas.events import SymbolStatusData
from schemas.market import PAYLOAD_MODELS, SourceStatus
from schemas.quality import Finding, QualityReport
from schemas.subjects import (
    QUALITY_FINDING_SUBJECT,
    QUALITY_REPORT_SUBJECT,
    STATUS_PREFIX,
    SUBJECT_ROOT,
    SYMBOL_STATUS_PREFIX,
)
from schemas.symbols import Market

SCHEMA_REF = "#/components/schemas/{model}"
WS_CHANNEL = "websocket"

_CODE = {"description": "6-digit security code, e.g. 600000"}
_MARKET = {"enum": [m.value for m in Market], "description": "exchange"}
_PERIOD = {"enum": list(KLINE_PERIODS), "description": "bar period"}


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def _schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [
        (m, "validation" if key.startswith("client.") else "serialization")
        for key, m in message_models().items()
    ]
    nats_models: list[type[BaseModel]] = [*PAYLOAD_MODELS.values(), SourceStatus, *STATUS_EXTRAS]
    models += [(m, "serialization") for m in nats_models]
    _, schema = models_json_schema(models, ref_template=SCHEMA_REF)
    defs: dict[str, Any] = schema["$defs"]
    return defs


def _nats_name(model: type[BaseModel]) -> str:
    """``NatsQuoteData``: apart from the WebSocket's ``TradeData`` message and the like."""
    return f"Nats{model.__name__}"


def _ws_message(spec: MessageSpec) -> dict[str, Any]:
    model = message_models()[spec.key]
    return {
        "name": spec.kind.value,
        "title": spec.name,
        "summary": spec.summary,
        "payload": _ref(SCHEMA_REF.format(model=model.__name__)),
    }


def _nats_channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for data_type, model in PAYLOAD_MODELS.items():
        params: dict[str, Any] = {"code": _CODE, "market": _MARKET}
        if data_type is DataType.KLINE:
            address = f"{SUBJECT_ROOT}.kline.{{period}}.{{code}}.{{market}}"
            params = {"period": _PERIOD, **params}
        else:
            address = f"{SUBJECT_ROOT}.{data_type.value}.{{code}}.{{market}}"
        channels[f"nats_{data_type.value}"] = {
            "address": address,
            "title": f"{data_type.value} on NATS",
            "description": (
                f"JetStream stream {STREAM_BY_TYPE[data_type]}. Headers: Nats-Msg-Id "
                "(idempotency), traceparent. Wildcards work: md.quote.*.SH is all of Shanghai."
            ),
            "servers": [_ref("#/servers/nats")],
            "parameters": params,
            "messages": {_nats_name(model): _ref(f"#/components/messages/{_nats_name(model)}")},
        }
    channels["nats_status"] = {
        "address": f"{STATUS_PREFIX}.{{source}}",
        "title": "source status on NATS",
        "description": f"JetStream stream {STATUS_STREAM}: heartbeats and events per source.",
        "servers": [_ref("#/servers/nats")],
        "parameters": {"source": {"description": "the adapter's source id"}},
        "messages": {"SourceStatus": _ref("#/components/messages/SourceStatus")},
    }
    return channels | _status_extra_channels()


# Deeper md.status subjects: (channel, address, model, what), in the MD_STATUS stream too.
STATUS_EXTRAS_CHANNELS: tuple[tuple[str, str, type[BaseModel], str], ...] = (
    (
        "nats_symbol_status",
        f"{SYMBOL_STATUS_PREFIX}.{{code}}.{{market}}",
        SymbolStatusData,
        "a symbol halted or resumed, at or off its price limit (forwarded to its subscribers)",
    ),
    ("nats_quality_report", QUALITY_REPORT_SUBJECT, QualityReport, "the data-quality report"),
    (
        "nats_quality_finding",
        QUALITY_FINDING_SUBJECT,
        Finding,
        "a quality finding raised or cleared",
    ),
)
STATUS_EXTRAS = tuple(model for _, _, model, _ in STATUS_EXTRAS_CHANNELS)


def _status_extra_channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for channel, address, model, what in STATUS_EXTRAS_CHANNELS:
        channels[channel] = {
            "address": address,
            "title": what,
            "description": f"JetStream stream {STATUS_STREAM}.",
            "servers": [_ref("#/servers/nats")],
            "messages": {model.__name__: _ref(f"#/components/messages/{model.__name__}")},
        }
        if "{code}" in address:
            channels[channel]["parameters"] = {"code": _CODE, "market": _MARKET}
    return channels


@cache
def asyncapi_document() -> dict[str, Any]:
    ws_messages = {spec.name: spec for spec in MESSAGES}
    messages: dict[str, Any] = {name: _ws_message(spec) for name, spec in ws_messages.items()}
    for model in PAYLOAD_MODELS.values():
        messages[_nats_name(model)] = {
            "name": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "payload": _ref(SCHEMA_REF.format(model=model.__name__)),
        }
    messages["SourceStatus"] = {
        "name": "SourceStatus",
        "summary": "a source's up, heartbeat or down",
        "payload": _ref(SCHEMA_REF.format(model=SourceStatus.__name__)),
    }
    for _, _, extra, what in STATUS_EXTRAS_CHANNELS:
        messages[extra.__name__] = {
            "name": extra.__name__,
            "summary": what,
            "payload": _ref(SCHEMA_REF.format(model=extra.__name__)),
        }
    ws_channel_ref = _ref(f"#/channels/{WS_CHANNEL}")
    operations: dict[str, Any] = {}
    for name, spec in ws_messages.items():
        action = "receive" if spec.direction == "client" else "send"
        operation: dict[str, Any] = {
            "action": action,
            "channel": ws_channel_ref,
            "summary": spec.summary,
            "messages": [_ref(f"#/channels/{WS_CHANNEL}/messages/{name}")],
        }
        if spec.direction == "client" and f"server.{spec.kind.value}" in message_models():
            reply = next(s for s in MESSAGES if s.key == f"server.{spec.kind.value}")
            operation["reply"] = {
                "channel": ws_channel_ref,
                "messages": [_ref(f"#/channels/{WS_CHANNEL}/messages/{reply.name}")],
            }
        operations[f"{action}{name}"] = operation
    for channel in _nats_channels():
        operations[f"publish_{channel}"] = {
            "action": "send",
            "channel": _ref(f"#/channels/{channel}"),
            "summary": "adapters publish; backend services consume with JetStream",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "mdbridge market data",
            "version": VERSION,
            "description": (
                "China A-share market data. Clients use the WebSocket `/ws` (also `/v1/ws`): "
                "every frame is one JSON envelope {type, id, timestamp, data, metadata}. "
                "Backend services read the NATS subjects directly from JetStream; the symbol "
                f"directory is the KV bucket `{SYMBOLS_BUCKET}`. A stream sequence plus the "
                "stream's epoch identify a message forever (`metadata.seq`)."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "bridge": {
                "host": "localhost:8000",
                "protocol": "ws",
                "description": "the bridge (auth: Authorization header, bearer.<token> "
                "subprotocol, token query parameter or an auth frame)",
            },
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "the deployment's NATS with JetStream (backend services)",
            },
        },
        "channels": {
            WS_CHANNEL: {
                "address": "/ws",
                "title": "the WebSocket",
                "servers": [_ref("#/servers/bridge")],
                "messages": {name: _ref(f"#/components/messages/{name}") for name in ws_messages},
            },
            **_nats_channels(),
        },
        "operations": operations,
        "components": {"schemas": _schemas(), "messages": messages},
    }
