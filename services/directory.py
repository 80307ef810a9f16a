"""The symbol directory (KV ``md_symbols``), written the same way by every source."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from schemas import SYMBOLS_BUCKET, SymbolInfo
from services.msgid import symbol_entry_id


def directory_entry(info: SymbolInfo) -> tuple[str, dict[str, Any], str]:
    """(KV subject, value, Nats-Msg-Id) of a symbol's directory entry.

    Written through the publisher (a KV put is a publish on ``$KV.<bucket>.<key>``) so the
    whole market's directory is pipelined; the id carries a content hash, so only an
    unchanged entry is deduplicated.
    """
    value = info.model_dump(mode="json")
    digest = zlib.crc32(orjson.dumps(value))
    return f"$KV.{SYMBOLS_BUCKET}.{info.symbol}", value, symbol_entry_id(info.symbol, digest)
