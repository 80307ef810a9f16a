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

import bisect
from collections import defaultdict
from collections.abc import Iterator
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
    return Spellings("".join(parts), "".join(heads), frozenset(k for k in inner if len(k) >= 2))


def _code_like(text: str) -> bool:
    """``60000X.SH``: digits and Latin letters only, some digits: no name or pinyin to scan."""
    return text.isascii() and any(ch.isdigit() for ch in text)


def _deletions(text: str) -> set[str]:
    """``text`` and every string one character shorter than it."""
    return {text} | {text[:i] + text[i + 1 :] for i in range(len(text))}


class SuggestionIndex:
    """Search over the symbol directory; every method returns symbols, best first."""

    def __init__(self) -> None:
        self._entries: dict[str, SymbolInfo] = {}
        self._spellings: dict[str, Spellings] = {}  # by name: names repeat
        self._dirty = True
        self._by_code: dict[str, list[str]] = {}
        self._exact: dict[str, list[str]] = {}  # name, full pinyin, initials → symbols
        self._sorted_codes: list[tuple[str, str]] = []
        # (key, symbol) sorted for prefix search: whole names, pinyins and initials; then the
        # same from a later syllable on (茅台, MAOTAI, MT): a part of a name, without a scan
        self._heads: list[tuple[str, str]] = []
        self._inner: list[tuple[str, str]] = []
        self._codes: list[str] = []
        self._code_symbols: list[str] = []
        # each code and its one-deletion variants → indices into _codes: one typo (a digit
        # dropped, added, changed) found with a few dict gets (symmetric deletion, as SymSpell)
        self._variants: dict[str, list[int]] = {}
        self._pinyin_variants: dict[str, list[tuple[str, str]]] = {}  # → (full pinyin, symbol)

    def __len__(self) -> int:
        return len(self._entries)

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

    # -- building (once per directory change, at the first query after it) -----------------

    def _build(self) -> None:
        by_code: defaultdict[str, list[str]] = defaultdict(list)
        exact: defaultdict[str, list[str]] = defaultdict(list)
        heads: list[tuple[str, str]] = []
        inner: list[tuple[str, str]] = []
        pinyin_variants: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
        for symbol in sorted(self._entries):
            info = self._entries[symbol]
            by_code[info.code].append(symbol)
            spelt = self._spellings[info.name]
            for key in {info.name.upper(), spelt.full, spelt.initials}:
                exact[key].append(symbol)
                heads.append((key, symbol))
            inner += [(key, symbol) for key in spelt.inner]
            if MIN_PINYIN_TYPO <= len(spelt.full) <= MAX_TYPO_TEXT:
                for variant in _deletions(spelt.full):
                    pinyin_variants[variant].append((spelt.full, symbol))
        self._by_code, self._exact = dict(by_code), dict(exact)
        self._sorted_codes = sorted((info.code, s) for s, info in self._entries.items())
        self._codes = [code for code, _ in self._sorted_codes]
        self._code_symbols = [symbol for _, symbol in self._sorted_codes]
        variants: defaultdict[str, list[int]] = defaultdict(list)
        for index, code in enumerate(self._codes):
            for variant in _deletions(code):
                variants[variant].append(index)
        self._variants = dict(variants)
        self._heads, self._inner = sorted(heads), sorted(inner)
        self._pinyin_variants = dict(pinyin_variants)
        self._dirty = False

    def prepare(self) -> None:
        """Build now (after the directory loaded) rather than at the first query."""
        self._ready()

    def _ready(self) -> None:
        if self._dirty:
            self._build()

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
        self._ready()
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
            self._by_code.get(code, [])
        ):
            return list(found)
        if add(self._exact.get(query, [])):
            return list(found)
        if (
            len(query) >= 2
            and not _code_like(query)
            and (add(self._prefixed(self._heads, query)) or add(self._prefixed(self._inner, query)))
        ):
            return list(found)
        if code.isdigit() and add(self._prefixed(self._sorted_codes, code)):
            return list(found)
        if not found or any(ch.isdigit() for ch in code):  # fuzzy names only for no match
            add(self._near_misses(query, spelling, limit - len(found)))
        return list(found)

    @staticmethod
    def _prefixed(pairs: list[tuple[str, str]], prefix: str) -> Iterator[str]:
        """Symbols whose key starts with ``prefix``, in key order (the caller stops early)."""
        at = bisect.bisect_left(pairs, (prefix, ""))
        while at < len(pairs) and pairs[at][0].startswith(prefix):
            yield pairs[at][1]
            at += 1

    def _near_misses(self, query: str, spelling: Spelling | None, limit: int) -> list[str]:
        if limit <= 0:
            return []
        head, _, tail = query.partition(".")
        if any(ch.isdigit() for ch in head):  # a code with a typo: 60000.SH, 6000O0
            wanted = spelling.market if spelling is not None else MARKET_SUFFIXES.get(tail)
            typed = head[:8]
            candidates = {i for v in _deletions(typed) for i in self._variants.get(v, ())}
            ranked = sorted(
                (Levenshtein.distance(typed, self._codes[i]), i) for i in candidates
            )  # fewer edits first, then code order: 600000 before 600001
            ranked.sort(
                key=lambda hit: (
                    hit[0],
                    wanted is not None and not self._code_symbols[hit[1]].endswith(wanted),
                )
            )  # stable: same edits, the market asked for first
            return [self._code_symbols[i] for d, i in ranked[:limit] if d <= MAX_CODE_DISTANCE]
        if not MIN_PINYIN_TYPO <= len(query) <= MAX_TYPO_TEXT:
            return []
        near = {hit for v in _deletions(query) for hit in self._pinyin_variants.get(v, ())}
        by_edits = sorted((Levenshtein.distance(query, full), symbol) for full, symbol in near)
        return [symbol for _, symbol in by_edits[:limit]]
