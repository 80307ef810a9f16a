"""Finding the symbols a person meant: by alias, code, name, pinyin (initials or full) or a
near miss, in microseconds.

Every lookup is a dict get, a bisect over a sorted list, a C-level ``str.find`` over one
joined string, or rapidfuzz's C scorer over the codes: no Python loop over the directory per
query. Generic over the directory's entries (any :class:`SymbolInfo`: stocks, indices, ETFs).
Measured on a 5,400-symbol directory: tests/test_suggest.py.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bridge.market.aliases import MARKET_SUFFIXES, Spelling, parse
from schemas import SymbolInfo

MAX_CODE_DISTANCE = 2  # edits between a near-miss code and a listed one
MIN_PINYIN_RATIO = 80.0  # rapidfuzz ratio (0-100) for a misspelt pinyin
_SEP = "\n"


def pinyin_of(name: str) -> tuple[str, str]:
    """(full pinyin, initials) of a name, upper case: 浦发银行 → (PUFAYINHANG, PFYH).

    Runs that are not Chinese (``*ST``, ``ETF``) are kept whole in both.
    """
    syllables = lazy_pinyin(name)
    full = "".join(syllables).upper()
    initials = "".join(
        s[0] if s.isascii() and s.isalpha() and s.islower() else s for s in syllables
    )
    return full, initials.upper()


def _deletions(text: str) -> set[str]:
    """``text`` and every string one character shorter than it."""
    return {text} | {text[:i] + text[i + 1 :] for i in range(len(text))}


class _Joined:
    """Substring search over many keys at once: one string, ``str.find``, bisect to the key."""

    def __init__(self, keyed: list[tuple[str, str]]) -> None:
        self._symbols = [symbol for _, symbol in keyed]
        self._starts: list[int] = []
        at = 0
        for key, _ in keyed:
            self._starts.append(at)
            at += len(key) + 1
        self._text = _SEP.join(key for key, _ in keyed)

    def find(self, needle: str, limit: int) -> Iterator[str]:
        if not needle or _SEP in needle:
            return
        text, at, found = self._text, 0, 0
        while found < limit:
            at = text.find(needle, at)
            if at < 0:
                return
            index = bisect.bisect_right(self._starts, at) - 1
            yield self._symbols[index]
            found += 1
            at = self._starts[index + 1] if index + 1 < len(self._starts) else len(text)


class SuggestionIndex:
    """Search over the symbol directory; every method returns symbols, best first."""

    def __init__(self) -> None:
        self._entries: dict[str, SymbolInfo] = {}
        self._pinyin: dict[str, tuple[str, str]] = {}  # name → (full, initials): names repeat
        self._dirty = True
        self._by_code: dict[str, list[str]] = {}
        self._exact: dict[str, list[str]] = {}  # name, full pinyin, initials → symbols
        self._sorted_codes: list[tuple[str, str]] = []
        self._sorted_keys: list[tuple[str, str]] = []  # (initials or full pinyin, symbol)
        self._codes: list[str] = []
        self._code_symbols: list[str] = []
        # each code and its one-deletion variants → indices into _codes: one typo (a digit
        # dropped, added, changed) found with a few dict gets (symmetric deletion, as SymSpell)
        self._variants: dict[str, list[int]] = {}
        self._names = _Joined([])
        self._spellings = _Joined([])
        self._pinyins: list[str] = []
        self._pinyin_symbols: list[str] = []

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, info: SymbolInfo) -> None:
        old = self._entries.get(info.symbol)
        self._entries[info.symbol] = info
        if info.name not in self._pinyin:
            self._pinyin[info.name] = pinyin_of(info.name)
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
        keys: list[tuple[str, str]] = []
        spellings: list[tuple[str, str]] = []
        for symbol in sorted(self._entries):
            info = self._entries[symbol]
            by_code[info.code].append(symbol)
            full, initials = self._pinyin[info.name]
            for key in {info.name.upper(), full, initials}:
                exact[key].append(symbol)
            keys += [(initials, symbol), (full, symbol)]
            spellings += [(full, symbol), (initials, symbol)]
        self._by_code, self._exact = dict(by_code), dict(exact)
        self._sorted_codes = sorted((info.code, s) for s, info in self._entries.items())
        self._codes = [code for code, _ in self._sorted_codes]
        self._code_symbols = [symbol for _, symbol in self._sorted_codes]
        variants: defaultdict[str, list[int]] = defaultdict(list)
        for index, code in enumerate(self._codes):
            for variant in _deletions(code):
                variants[variant].append(index)
        self._variants = dict(variants)
        self._sorted_keys = sorted(keys)
        self._names = _Joined([(info.name.upper(), s) for s, info in sorted(self._entries.items())])
        self._spellings = _Joined(spellings)
        self._pinyins = [key for key, _ in spellings]
        self._pinyin_symbols = [symbol for _, symbol in spellings]
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
        if len(query) >= 2 and (
            add(self._names.find(query, limit))
            or add(self._prefixed(self._sorted_keys, query, limit))
            or add(self._spellings.find(query, limit))
        ):
            return list(found)
        if code.isdigit() and add(self._prefixed(self._sorted_codes, code, limit)):
            return list(found)
        if not found or any(ch.isdigit() for ch in code):  # fuzzy names only for no match
            add(self._near_misses(query, spelling, limit - len(found)))
        return list(found)

    @staticmethod
    def _prefixed(pairs: list[tuple[str, str]], prefix: str, limit: int) -> Iterator[str]:
        at = bisect.bisect_left(pairs, (prefix, ""))
        for key, symbol in pairs[at : at + limit]:
            if not key.startswith(prefix):
                return
            yield symbol

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
        hits = process.extract(
            query[:32], self._pinyins, scorer=fuzz.ratio, score_cutoff=MIN_PINYIN_RATIO, limit=limit
        )
        return [self._pinyin_symbols[index] for _, _, index in hits]
