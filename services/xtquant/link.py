"""The link to MiniQMT: one owner thread makes every xtdata call; callbacks go to the inbox.

xtdata keeps a module-global client without locks, so every call (connect, subscribe,
directory look-ups) runs on one dedicated thread (a one-worker executor) and asyncio awaits
it. ``xtquant`` is imported there, lazily: nothing else in mdbridge needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from schemas import is_symbol
from services.errors import SourceError
from services.xtquant.inbox import Inbox
from services.xtquant.normalize import XT_PERIOD

logger = logging.getLogger(__name__)

T = TypeVar("T")
TICK, L2QUOTE, L2TRANSACTION = "tick", "l2quote", "l2transaction"


@dataclass(frozen=True, slots=True)
class Plan:
    """What to subscribe: the whole-market push or symbols one by one, and their extras."""

    whole: tuple[str, ...] = ()  # subscribe_whole_quote code list (markets or symbols)
    single: tuple[str, ...] = ()  # subscribe_quote(period="tick") per symbol
    bar_periods: tuple[str, ...] = ()  # our periods, through subscribe_quote, for `single`
    level2: bool = False  # l2quote and l2transaction for `single`


class Listing(NamedTuple):
    """One instrument as the terminal describes it."""

    symbol: str
    detail: dict[str, Any]  # get_instrument_detail
    types: set[str]  # get_instrument_type's true flags: index, stock, fund, etf, lof, ...


@dataclass(slots=True)
class _State:
    module: Any = None  # xtquant.xtdata, once imported
    seqs: list[int] = field(default_factory=list)


class XtLink:
    def __init__(
        self,
        inbox: Inbox,
        on_status: Callable[[str], None],
        *,
        host: str = "",
        port: int | None = None,
    ) -> None:
        self._inbox = inbox
        self._on_status = on_status
        self._host = host
        self._port = port
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xtdata")
        self._state = _State()  # touched only on the owner thread

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the owner thread."""
        return await self._loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def connect(self) -> None:
        """(Re)connect: a new xtdata client, so every subscription must be made again."""
        await self.call(self._connect)

    async def directory(self, symbols: Iterable[str], sectors: Iterable[str]) -> list[Listing]:
        """The instruments of ``symbols``, else of the sectors (downloaded first)."""
        return await self.call(self._directory, tuple(symbols), tuple(sectors))

    async def full_tick(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``get_full_tick``: the latest tick of every symbol, ticking or not (halted)."""
        return await self.call(self._full_tick, tuple(symbols))

    async def holidays(self) -> list[object]:
        """``get_holidays()`` (8-digit dates); empty if this SDK has none or it fails."""
        return await self.call(self._holidays)

    async def subscribe(self, plan: Plan) -> int:
        """Drop the current subscriptions and make ``plan``'s; returns how many failed."""
        return await self.call(self._subscribe, plan)

    async def history(
        self, symbols: Iterable[str], period: str, start: str
    ) -> dict[str, list[dict[str, Any]]]:
        """Bars of our ``period`` since ``start`` (``YYYYMMDD``), unadjusted: download, read."""
        return await self.call(self._history, tuple(symbols), XT_PERIOD[period], start)

    async def close(self, timeout: float = 2.0) -> None:
        """Unsubscribe and disconnect, unless the owner thread is stuck in a call."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call(self._disconnect), timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- on the owner thread ---------------------------------------------------------------

    def _xt(self) -> Any:
        state = self._state
        if state.module is None:
            try:
                state.module = importlib.import_module("xtquant.xtdata")
            except ImportError as exc:
                raise SourceError(
                    "xtquant is not installed: `pip install xtquant` on the Windows host"
                ) from exc
            state.module.enable_hello = False  # no banner on stdout: logs are JSON lines
        return state.module

    def _connect(self) -> None:
        xt = self._xt()
        # Registered only when a client is created: before every (re)connect.
        xt.watch_xtquant_status(self._status_callback)
        self._state.seqs = []  # they belonged to the old client
        xt.reconnect(ip=self._host, port=self._port)

    def _status_callback(self, info: Any) -> None:
        """On an xtquant thread: hand the link status to the loop."""
        status = str(info.get("status", "")) if isinstance(info, dict) else str(info)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_status, status)

    def _directory(self, symbols: tuple[str, ...], sectors: tuple[str, ...]) -> list[Listing]:
        xt = self._xt()
        codes: list[str] = list(symbols)
        if not codes:
            # A fresh terminal has no sector lists: without this the sectors come back empty.
            xt.download_sector_data()
            for sector in sectors:
                members = xt.get_stock_list_in_sector(sector) or []
                if not members:
                    logger.warning("xtquant sector %s is empty (or unknown)", sector)
                codes += members
        wanted = [code for code in dict.fromkeys(codes) if is_symbol(code)]  # no bonds etc.
        details = xt.get_instrument_detail_list(wanted) or {}
        found = []
        for code in wanted:
            detail = details.get(code)
            if isinstance(detail, dict):
                types = xt.get_instrument_type(code) or {}
                found.append(Listing(code, detail, {k for k, v in types.items() if v}))
            else:
                logger.warning("xtquant knows no instrument %s", code)
        return found

    def _holidays(self) -> list[object]:
        try:
            days = self._xt().get_holidays()
        except Exception as exc:  # an old SDK, or no holiday data on the terminal
            logger.warning("xtquant get_holidays failed: %s", exc)
            return []
        return list(days) if isinstance(days, list) else []

    def _full_tick(self, symbols: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        ticks = self._xt().get_full_tick(list(symbols))
        return ticks if isinstance(ticks, dict) else {}

    def _history(
        self, symbols: tuple[str, ...], xt_period: str, start: str
    ) -> dict[str, list[dict[str, Any]]]:
        xt = self._xt()
        codes = list(symbols)
        xt.download_history_data2(codes, xt_period, start_time=start, end_time="")
        # dividend_type "none": prices as traded, what the live feed publishes too
        frames = xt.get_market_data_ex(
            [], codes, period=xt_period, start_time=start, end_time="", count=-1,
            dividend_type="none", fill_data=False,
        )  # fmt: skip
        return {code: frame.to_dict("records") for code, frame in (frames or {}).items()}

    def _subscribe(self, plan: Plan) -> int:
        xt = self._xt()
        for seq in self._state.seqs:
            with contextlib.suppress(Exception):
                xt.unsubscribe_quote(seq)
        self._state.seqs = []
        inbox = self._inbox
        failed = 0

        def keep(seq: object, what: str) -> None:
            nonlocal failed
            if isinstance(seq, int) and seq > 0:
                self._state.seqs.append(seq)
            else:  # -1: refused (unknown code, no Level-2 rights, ...)
                failed += 1
                logger.warning("xtquant refused the subscription %s", what)

        def quote(code: str, period: str, callback: Callable[[Any], None]) -> None:
            keep(xt.subscribe_quote(code, period=period, count=0, callback=callback), code + period)

        if plan.whole:
            on_whole = functools.partial(inbox.offer_snapshots, TICK)
            keep(xt.subscribe_whole_quote(list(plan.whole), callback=on_whole), "whole-market")
        on_tick = functools.partial(inbox.offer_snapshots, TICK)
        on_l2quote = functools.partial(inbox.offer_snapshots, L2QUOTE)
        on_l2trades = functools.partial(inbox.offer_items, L2TRANSACTION)
        for code in plan.single:
            quote(code, TICK, on_tick)
            for period in plan.bar_periods:
                quote(code, XT_PERIOD[period], functools.partial(inbox.offer_bars, period))
            if plan.level2:
                quote(code, L2QUOTE, on_l2quote)
                quote(code, L2TRANSACTION, on_l2trades)
        return failed

    def _disconnect(self) -> None:
        xt = self._state.module
        if xt is not None:
            for seq in self._state.seqs:
                with contextlib.suppress(Exception):
                    xt.unsubscribe_quote(seq)
            self._state.seqs = []
            xt.disconnect()
