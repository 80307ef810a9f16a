"""The symbol directory, mirrored from the JetStream KV bucket ``md_symbols`` and kept live."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import ValidationError

from bridge.market.suggest import SuggestionIndex
from schemas import SYMBOLS_BUCKET, SymbolInfo

logger = logging.getLogger(__name__)

KV_DELETES = ("DEL", "PURGE")
# After a change, wait this long for more (a republished directory comes in a burst), then
# rebuild the suggestion tables in a worker thread: the event loop never pays for a rebuild.
REBUILD_DELAY_S = 1.0


class SymbolDirectory:
    def __init__(self) -> None:
        self._symbols: dict[str, SymbolInfo] = {}
        self._index = SuggestionIndex()
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()
        self._rebuild: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._symbols

    def get(self, symbol: str) -> SymbolInfo | None:
        return self._symbols.get(symbol)

    def symbols(self, market: str | None = None) -> list[str]:
        return [s for s, info in self._symbols.items() if market is None or info.market == market]

    def suggest(self, text: str, limit: int = 10) -> list[str]:
        return self._index.search(text, limit)

    def named(self, symbols: list[str]) -> str:
        """``000001.SZ 平安银行, 000001.SH 上证指数``: candidates a person can tell apart."""
        infos = [self._symbols.get(s) for s in symbols]
        return ", ".join(f"{i.symbol} {i.name}" for i in infos if i is not None)

    def unknown(self, symbol: str) -> tuple[str, list[str]]:
        """The message and suggestions for a symbol not in the directory; a bare code such as
        ``000001`` names every instrument with that code."""
        suggestions = self.suggest(symbol)
        message = f"unknown symbol {symbol!r}"
        if suggestions:
            message += f"; did you mean {self.named(suggestions[:5])}?"
        return message, suggestions

    def resolve(self, text: str) -> str | None:
        """The listed symbol an alias spells unambiguously (``sh600000`` → ``600000.SH``)."""
        if text in self._symbols:
            return text
        return self._index.resolve(text)

    def put(self, info: SymbolInfo) -> None:
        self._symbols[info.symbol] = info
        self._index.put(info)

    async def start(self, js: JetStreamContext, timeout: float = 10.0) -> None:
        kv = await js.key_value(SYMBOLS_BUCKET)
        self._watcher = await kv.watchall()
        self._task = asyncio.create_task(self._follow(self._watcher))
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            logger.warning(
                "symbol directory still loading after %.0fs (%d so far)", timeout, len(self)
            )

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:  # the initial values are all in (start() still waits for them)
                self._index.prepare()
                self._index.defer_builds()
                self._loaded.set()
                logger.info("symbol directory loaded: %d symbols", len(self._symbols))
                continue
            if entry.operation in KV_DELETES:
                self._symbols.pop(entry.key, None)
                self._index.remove(entry.key)
            else:
                try:
                    self.put(SymbolInfo.model_validate_json(entry.value or b""))
                except ValidationError as exc:
                    logger.warning("bad directory entry %s: %s", entry.key, exc.errors()[:1])
            if self._loaded.is_set() and self._index.dirty and self._rebuild is None:
                self._rebuild = asyncio.create_task(self._rebuild_soon())

    async def _rebuild_soon(self) -> None:
        try:
            while self._index.dirty:  # changes during a rebuild: another one
                await asyncio.sleep(REBUILD_DELAY_S)
                await self._index.rebuild()
        finally:
            self._rebuild = None

    async def close(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]  # nats-py lacks a hint
        if self._task is not None:
            self._task.cancel()
        if self._rebuild is not None:
            self._rebuild.cancel()
