"""Finding the symbols a person meant: by alias, code, name, pinyin (initials or full) or a
near miss, in microseconds.

Every lookup is a dict get, a bisect over a sorted list of keys (names, pinyins, initials
and their tails from each syllable on), or a symmetric-deletion table (as SymSpell) for
one-typo codes and pinyin, ranked by rapidfuzz's Levenshtein distance: no Python loop over
the directory per query.
Generic over the directory's entries (any :class:`SymbolInfo`: stocks, indices, ETFs).
Measured on a 5,400-symbol directory: tests/test_suggest.py.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from pypinyin import lazy_pinyin
from rapidfuzz.distance import Levenshtein

from bridge.market.aliases import MARKET_SUFFIXES, Spelling, parse
from schemas import SymbolInfo

MAX_CODE_DISTANCE = 2  # edits between a near-miss code and a listed one
MIN_PINYIN_TYPO = 5  # a pinyin this long or longer is matched with one typo
MAX_TYPO_TEXT = 24  # longer text is not looked up for typos (the table has no such keys)


class Spellings(NamedTuple):
    """How a name can be typed: 浦发银行 → PUFAYINHANG, PFYH, and from any syllable on."""

    name: str  # upper case
    full: str  # the full pinyin, upper case
    initials: str
    inner: frozenset[str]  # name, full pinyin and initials from their 2nd character/syllable


def spellings_of(name: str) -> Spellings:
    """Runs that are not Chinese (``*ST``, ``ETF``) stay whole in the pinyin and initials."""
    syllables = lazy_pinyin(name)
    parts = [s.upper() for s in syllables]
    chinese = [s.isascii() and s.isalpha() and s.islower() for s in syllables]  # a syllable
    heads = [p[0] if is_syllable else p for p, is_syllable in zip(parts, chinese, strict=True)]
    upper = name.upper()
    inner = {"".join(parts[i:]) for i in range(1, len(parts))}
    inner |= {"".join(heads[i:]) for i in range(1, len(heads))}
    inner |= {upper[i:] for i in range(1, len(upper))}
    keep = frozenset(k for k in inner if len(k) >= 2)
    return Spellings(upper, "".join(parts), "".join(heads), keep)


def _code_like(text: str) -> bool:
    """``60000X.SH``: digits and Latin letters only, some digits: no name or pinyin to scan."""
    return text.isascii() and any(ch.isdigit() for ch in text)


def _deletions(text: str) -> set[str]:
    """``text`` and every string one character shorter than it."""
    return {text} | {text[:i] + text[i + 1 :] for i in range(len(text))}


@dataclass(frozen=True, slots=True)
class Tables:
    """The index proper: built from a snapshot of the entries, never changed afterwards, so
    it can be built in a worker thread and swapped in whole."""

    by_code: dict[str, list[str]]
    exact: dict[str, list[str]]  # name, full pinyin, initials → symbols
    sorted_codes: list[tuple[str, str]]
    codes: list[str]
    code_symbols: list[str]
    # each code and its one-deletion variants → indices into codes: one typo (a digit
    # dropped, added, changed) found with a few dict gets (symmetric deletion, as SymSpell)
    code_variants: dict[str, list[int]]
    # (key, symbol) sorted for prefix search: whole names, pinyins and initials; then the
    # same from a later syllable on (茅台, MAOTAI, MT): a part of a name, without a scan
    heads: list[tuple[str, str]]
    inner: list[tuple[str, str]]
    pinyin_variants: dict[str, list[tuple[str, str]]]  # → (full pinyin, symbol)


Snapshot = list[tuple[str, str, Spellings, int]]  # (symbol, code, spelling, kind rank)

_KIND_RANK = {"stock": 0, "etf": 1, "lof": 2, "index": 3}  # a bare code: the stock first


def build_tables(snapshot: Snapshot) -> Tables:
    by_code: defaultdict[str, list[str]] = defaultdict(list)
    exact: defaultdict[str, list[str]] = defaultdict(list)
    heads: list[tuple[str, str]] = []
    inner: list[tuple[str, str]] = []
    pinyin_variants: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    rank = {symbol: kind_rank for symbol, _, _, kind_rank in snapshot}
    for symbol, code, spelt, _ in sorted(snapshot):
        by_code[code].append(symbol)
        for key in {spelt.name, spelt.full, spelt.initials}:
            exact[key].append(symbol)
            heads.append((key, symbol))
        inner += [(key, symbol) for key in spelt.inner]
        if MIN_PINYIN_TYPO <= len(spelt.full) <= MAX_TYPO_TEXT:
            for variant in _deletions(spelt.full):
                pinyin_variants[variant].append((spelt.full, symbol))
    for symbols in by_code.values():  # 000001: 平安银行 (000001.SZ) before 上证指数
        symbols.sort(key=lambda symbol: (rank[symbol], symbol))
    sorted_codes = sorted((code, symbol) for symbol, code, _, _ in snapshot)
    codes = [code for code, _ in sorted_codes]
    code_variants: defaultdict[str, list[int]] = defaultdict(list)
    for index, code in enumerate(codes):
        for variant in _deletions(code):
            code_variants[variant].append(index)
    return Tables(
        by_code=dict(by_code),
        exact=dict(exact),
        sorted_codes=sorted_codes,
        codes=codes,
        code_symbols=[symbol for _, symbol in sorted_codes],
        code_variants=dict(code_variants),
        heads=sorted(heads),
        inner=sorted(inner),
        pinyin_variants=dict(pinyin_variants),
    )


EMPTY = build_tables([])


class SuggestionIndex:
    """Search over the symbol directory; every method returns symbols, best first.

    Entries change one by one (the directory's KV watch); the tables are rebuilt from a
    snapshot: at the first query after a change, or, once the owner calls
    :meth:`defer_builds`, only when it calls :meth:`rebuild` (in a worker thread), queries
    meanwhile answering from the previous tables.
    """

    def __init__(self) -> None:
        self._entries: dict[str, SymbolInfo] = {}
        self._spellings: dict[str, Spellings] = {}  # by name: names repeat
        self._tables: Tables = EMPTY
        self._dirty = True
        self._deferred = False

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def dirty(self) -> bool:
        """Entries changed since the tables were built."""
        return self._dirty

    def put(self, info: SymbolInfo) -> None:
        old = self._entries.get(info.symbol)
        self._entries[info.symbol] = info
        if info.name not in self._spellings:
            self._spellings[info.name] = spellings_of(info.name)
        # Prices and limits change daily; the index only cares about codes and names.
        if old is None or old.name != info.name or old.code != info.code:
            self._dirty = True

    def remove(self, symbol: str) -> None:
        if self._entries.pop(symbol, None) is not None:
            self._dirty = True

    # -- building ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return [
            (s, i.code, self._spellings[i.name], _KIND_RANK.get(i.kind.value, 9))
            for s, i in self._entries.items()
        ]

    def prepare(self) -> None:
        """Build now, on this thread (the directory's first load, a query without deferral)."""
        self._dirty = False
        self._tables = build_tables(self.snapshot())

    def defer_builds(self) -> None:
        """From now on the owner rebuilds (:meth:`rebuild`); queries never build."""
        self._deferred = True

    async def rebuild(self) -> None:
        """Rebuild off the event loop from a snapshot taken on it; swap the tables in."""
        self._dirty = False  # changes from now on mark it again
        snapshot = self.snapshot()
        self._tables = await asyncio.to_thread(build_tables, snapshot)

    def _ready(self) -> Tables:
        if self._dirty and not self._deferred:
            self.prepare()
        return self._tables

    # -- queries ----------------------------------------------------------------------------

    def resolve(self, text: str) -> str | None:
        """The one listed symbol ``text`` spells (``sh600000``, ``600000.XSHG``...), or None."""
        spelling = parse(text)
        if spelling is None or spelling.market is None:  # a bare code: suggested, not assumed
            return None
        symbol = f"{spelling.code}.{spelling.market}"
        return symbol if symbol in self._entries else None

    def search(self, text: str, limit: int = 10) -> list[str]:
        query = text.strip().upper()
        if not query or limit <= 0:
            return []
        tables = self._ready()
        found: dict[str, None] = {}

        def add(symbols: Iterator[str] | list[str]) -> bool:
            for symbol in symbols:
                found.setdefault(symbol)
                if len(found) >= limit:
                    return True
            return False

        spelling = parse(query)
        code = spelling.code if spelling is not None else query.partition(".")[0]
        if ((resolved := self.resolve(query)) is not None and add([resolved])) or add(
            tables.by_code.get(code, [])
        ):
            return list(found)
        if add(tables.exact.get(query, [])):
            return list(found)
        if (
            len(query) >= 2
            and not _code_like(query)
            and (add(_prefixed(tables.heads, query)) or add(_prefixed(tables.inner, query)))
        ):
            return list(found)
        if code.isdigit() and add(_prefixed(tables.sorted_codes, code)):
            return list(found)
        if not found or any(ch.isdigit() for ch in code):  # fuzzy names only for no match
            add(_near_misses(tables, query, spelling, limit - len(found)))
        return list(found)


def _prefixed(pairs: list[tuple[str, str]], prefix: str) -> Iterator[str]:
    """Symbols whose key starts with ``prefix``, in key order (the caller stops early)."""
    at = bisect.bisect_left(pairs, (prefix, ""))
    while at < len(pairs) and pairs[at][0].startswith(prefix):
        yield pairs[at][1]
        at += 1


def _near_misses(tables: Tables, query: str, spelling: Spelling | None, limit: int) -> list[str]:
    if limit <= 0:
        return []
    head, _, tail = query.partition(".")
    if any(ch.isdigit() for ch in head):  # a code with a typo: 60000.SH, 6000O0
        wanted = spelling.market if spelling is not None else MARKET_SUFFIXES.get(tail)
        typed = head[:8]
        codes, symbols = tables.codes, tables.code_symbols
        candidates = {i for v in _deletions(typed) for i in tables.code_variants.get(v, ())}
        # fewer edits first, then code order (600000 before 600001)...
        ranked = sorted((Levenshtein.distance(typed, codes[i]), i) for i in candidates)
        # ... and, stable, the market asked for first among the same edits
        ranked.sort(
            key=lambda hit: (hit[0], wanted is not None and not symbols[hit[1]].endswith(wanted))
        )
        return [symbols[i] for d, i in ranked[:limit] if d <= MAX_CODE_DISTANCE]
    if not MIN_PINYIN_TYPO <= len(query) <= MAX_TYPO_TEXT:
        return []
    near = {hit for v in _deletions(query) for hit in tables.pinyin_variants.get(v, ())}
    by_edits = sorted((Levenshtein.distance(query, full), symbol) for full, symbol in near)
    return [symbol for _, symbol in by_edits[:limit]]
