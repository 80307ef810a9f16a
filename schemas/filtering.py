"""Field filters (``filters.fields``): which payload fields exist, which are always kept, and
the published shape of a filtered payload.

A filtered frame keeps the fields a client asked for plus the fields that say what the
message is (symbol, timestamp; a bar's period and closed; a trade's id), so it still reads
as a quote, bar, trade or order book. Its schema is the payload model with every other field
optional: the ``Filtered<Model>`` alternative of each data message.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from schemas.market import PAYLOAD_MODELS, DataType

IDENTITY_FIELDS: dict[DataType, frozenset[str]] = {
    DataType.QUOTE: frozenset({"symbol", "timestamp"}),
    DataType.KLINE: frozenset({"symbol", "timestamp", "period", "closed"}),
    DataType.TRADE: frozenset({"symbol", "timestamp", "trade_id"}),
    DataType.DEPTH: frozenset({"symbol", "timestamp"}),
}


def payload_fields(data_type: DataType) -> frozenset[str]:
    return frozenset(PAYLOAD_MODELS[data_type].model_fields)


def unknown_fields(data_type: DataType, fields: list[str]) -> list[str]:
    """The names in ``fields`` that are not fields of the data type's payload, in order."""
    known = payload_fields(data_type)
    return [name for name in dict.fromkeys(fields) if name not in known]


def kept_fields(data_type: DataType, fields: list[str]) -> frozenset[str]:
    """What a filtered payload holds: the fields asked for plus the identity fields."""
    return frozenset(fields) | IDENTITY_FIELDS[data_type]


@cache
def filtered_model(data_type: DataType) -> type[BaseModel]:
    """``FilteredQuoteData``: the payload model with only its identity fields required."""
    model = PAYLOAD_MODELS[data_type]
    identity = IDENTITY_FIELDS[data_type]
    definitions: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in identity:
            definitions[name] = (info.annotation, info)
        else:
            optional = Field(default=None, description=info.description)
            definitions[name] = (info.annotation, optional)
    filtered: type[BaseModel] = create_model(
        f"Filtered{model.__name__}",
        __doc__=f"{model.__name__} with `filters.fields`: the fields asked for plus "
        f"{', '.join(sorted(identity))}",
        __config__=ConfigDict(extra="allow", frozen=True),
        **definitions,
    )
    return filtered
