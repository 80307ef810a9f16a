"""JSON Schema (2020-12) of every WebSocket message and NATS payload (``mdbridge schema``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.catalog import message_models
from schemas.events import SymbolStatusData
from schemas.market import PAYLOAD_MODELS, SourceStatus, SymbolInfo
from schemas.quality import Finding, QualityReport

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "urn:mdbridge:schema:"


def _document(name: str, model: type[BaseModel], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization" if mode == "out" else "validation")
    return {"$schema": DIALECT, "$id": ID_BASE + name, **schema}


def nats_payload_models() -> dict[str, type[BaseModel]]:
    """``{"nats.quote": QuoteData, ..., "nats.symbol_info": SymbolInfo, "nats.status": ...}``."""
    models: dict[str, type[BaseModel]] = {
        f"nats.{data_type.value}": model for data_type, model in PAYLOAD_MODELS.items()
    }
    models["nats.symbol_info"] = SymbolInfo
    models["nats.status"] = SourceStatus
    models["nats.symbol_status"] = SymbolStatusData
    models["nats.quality_report"] = QualityReport
    models["nats.quality_finding"] = Finding
    return models


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every message and payload, keyed ``client.subscribe``, ``server.market_data``,
    ``nats.quote`` ...: what a client validates what it sends and receives against."""
    documents: dict[str, dict[str, Any]] = {}
    for key, model in message_models().items():
        documents[key] = _document(key, model, "in" if key.startswith("client.") else "out")
    for key, model in nats_payload_models().items():
        documents[key] = _document(key, model, "out")
    return documents
