"""The ways people write a symbol, read back to ``<code>.<market>``.

``600000.sh``, ``SH600000``, ``sh.600000``, ``600000.SS`` (Yahoo), ``600000.XSHG`` (ISO 10383
MIC, as JoinQuant writes it), ``" 600000.SH "`` all name ``600000.SH``. A bare ``600000``
parses without a market: the index suggests the symbols with that code but never assumes one
(an index and a stock may share it). This module only parses; the directory decides whether
the symbol exists.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MARKET_SUFFIXES: dict[str, str] = {
    "SH": "SH", "SS": "SH", "SHA": "SH", "SSE": "SH", "SHSE": "SH", "XSHG": "SH",
    "SZ": "SZ", "SZA": "SZ", "SZSE": "SZ", "XSHE": "SZ",
    "BJ": "BJ", "BSE": "BJ", "BJSE": "BJ", "XBSE": "BJ",
}  # fmt: skip
MARKET_PREFIXES = {"SH": "SH", "SS": "SH", "SZ": "SZ", "BJ": "BJ"}

_SUFFIXED = re.compile(r"^([0-9]{6})\.([A-Z]{2,4})$")
_PREFIXED = re.compile(r"^([A-Z]{2})\.?([0-9]{6})$")
_BARE = re.compile(r"^[0-9]{6}$")
_WILDCARD = re.compile(r"^\*\.([A-Z]{2,4})$")


class Spelling(NamedTuple):
    code: str
    market: str | None  # None: a bare code, any market


def parse(text: str) -> Spelling | None:
    """The code and market ``text`` spells, or None when it is not a symbol spelling."""
    upper = text.strip().upper()
    if (m := _SUFFIXED.match(upper)) is not None:
        market = MARKET_SUFFIXES.get(m.group(2))
        return None if market is None else Spelling(m.group(1), market)
    if (m := _PREFIXED.match(upper)) is not None:
        market = MARKET_PREFIXES.get(m.group(1))
        return None if market is None else Spelling(m.group(2), market)
    if _BARE.match(upper) is not None:
        return Spelling(upper, None)
    return None


def market_wildcard(text: str) -> str | None:
    """``*.sh`` / ``*.SS`` → ``*.SH``; None for anything else."""
    m = _WILDCARD.match(text.strip().upper())
    if m is None:
        return None
    market = MARKET_SUFFIXES.get(m.group(1))
    return None if market is None else f"*.{market}"
