"""The symbol directory (KV ``md_symbols``), written the same way by every source."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from schemas import SYMBOLS_BUCKET, SymbolInfo
from services.msgid import symbol_entry_id


def pinyin_initials(name: str) -> str:
    """浦发银行 -> PFYH; letters and digits of the name stay (沪深300ETF -> HS300ETF)."""
    # Imported on first use: its phrase dictionary (which reads 银行 as hang) takes ~2 s to
    # load, too long for every adapter's import (and start-up signal handling) to wait.
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER)).upper()[:64]


def directory_entry(info: SymbolInfo) -> tuple[str, dict[str, Any], str]:
    """(KV subject, value, Nats-Msg-Id) of a symbol's directory entry.

    The entry carries the name's pinyin initials (every source the same). Written through the
    publisher (a KV put is a publish on ``$KV.<bucket>.<key>``) so the
    whole market's directory is pipelined; the id carries a content hash, so only an
    unchanged entry is deduplicated.
    """
    if not info.pinyin:
        info = info.model_copy(update={"pinyin": pinyin_initials(info.name)})
    value = info.model_dump(mode="json")
    digest = zlib.crc32(orjson.dumps(value))
    return f"$KV.{SYMBOLS_BUCKET}.{info.symbol}", value, symbol_entry_id(info.symbol, digest)
