"""Finding the symbols a person meant: by code, name, pinyin initials or a near miss."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from schemas import SymbolInfo

_PREFIXED = re.compile(r"^(SH|SZ|BJ)\.?(\d{6})$")
_SUFFIXED = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")


def pinyin_initials(name: str) -> str:
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER)).upper()


_KIND_RANK = {"stock": 0, "etf": 1, "lof": 2, "index": 3}


def _rank(info: SymbolInfo) -> tuple[int, str]:
    return _KIND_RANK.get(info.kind.value, 9), info.symbol


@dataclass(frozen=True, slots=True)
class Entry:
    info: SymbolInfo
    initials: str


class SuggestionIndex:
    """Search over the symbol directory; every method returns symbols, best first."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def put(self, info: SymbolInfo) -> None:
        self._entries[info.symbol] = Entry(info, pinyin_initials(info.name))

    def remove(self, symbol: str) -> None:
        self._entries.pop(symbol, None)

    def search(self, text: str, limit: int = 10) -> list[str]:
        query = text.strip()
        if not query:
            return []
        upper = query.upper()
        found: list[str] = []

        def add(symbols: list[str]) -> None:
            for symbol in symbols:
                if symbol not in found:
                    found.append(symbol)

        if (m := _PREFIXED.match(upper)) is not None:  # SH600000 / sh.600000
            add(
                [f"{m.group(2)}.{m.group(1)}"]
                if f"{m.group(2)}.{m.group(1)}" in self._entries
                else []
            )
        if (m := _SUFFIXED.match(upper)) is not None and upper in self._entries:  # 600000.sh
            add([upper])
        entries = self._entries.values()
        # A bare code can name several instruments (000001: 平安银行 000001.SZ and 上证指数
        # 000001.SH): all of them, in a stable order (stocks before funds before indices).
        add(
            [i.symbol for i in sorted((e.info for e in entries if e.info.code == query), key=_rank)]
        )
        add([e.info.symbol for e in entries if e.info.name == query])
        add([e.info.symbol for e in entries if e.initials == upper])
        if len(query) >= 2:
            add([e.info.symbol for e in entries if query in e.info.name])
            add([e.info.symbol for e in entries if e.initials.startswith(upper)])
        if query.isdigit():
            add(sorted(e.info.symbol for e in entries if e.info.code.startswith(query)))
        if len(found) < limit:
            add(self._near_misses(upper, limit))
        return found[:limit]

    def _near_misses(self, text: str, limit: int) -> list[str]:
        # Compare like with like: codes with codes, full symbols with full symbols.
        if "." in text:
            return difflib.get_close_matches(text, list(self._entries), n=limit, cutoff=0.8)
        codes = {e.info.code: e.info.symbol for e in self._entries.values()}
        close = difflib.get_close_matches(text, list(codes), n=limit, cutoff=0.8)
        return [codes[code] for code in close]
