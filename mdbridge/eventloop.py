"""Running a coroutine until a stop signal, on Linux and on the Windows adapter host alike.

uvloop is used when it is installed (never on Windows: there is no win_amd64 wheel), else
asyncio's own loop. Signals are caught with ``signal.signal`` in the main thread and handed
to the loop with ``call_soon_threadsafe``: ``loop.add_signal_handler`` does not exist on
Windows' event loops. On Windows, Ctrl-Break and closing the console window arrive as
SIGBREAK (the C runtime maps CTRL_BREAK/CTRL_CLOSE/logoff/shutdown events to it), Ctrl-C as
SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that ask a process to stop here: SIGINT, SIGTERM, and SIGBREAK on Windows."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return tuple(getattr(signal.Signals, name) for name in names if hasattr(signal, name))


def uvloop_factory() -> LoopFactory | None:
    """uvloop's loop factory when uvloop is importable, else None (asyncio's default loop)."""
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


@contextlib.contextmanager
def signals_call(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> Iterator[None]:
    """While inside, each stop signal schedules ``callback`` on ``loop`` (main thread only).

    The previous handlers come back on exit. Outside the main thread (embedded use) nothing
    is installed: only the main thread may set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("%s received: stopping", signal.Signals(signum).name)
        loop.call_soon_threadsafe(callback)

    previous = {sig: signal.signal(sig, handler) for sig in stop_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_until_stopped(
    main: Callable[[asyncio.Event], Awaitable[Any]], *, prefer_uvloop: bool = True
) -> None:
    """Run ``main(stop)`` until it returns; SIGINT/SIGTERM/SIGBREAK set ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        with signals_call(asyncio.get_running_loop(), stop.set):
            await main(stop)

    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before the handlers are in
        run(runner(), prefer_uvloop=prefer_uvloop)


def run(coro: Awaitable[Any], *, prefer_uvloop: bool = True) -> None:
    """Run ``coro`` to completion on uvloop when installed and preferred, else asyncio's loop."""
    factory = uvloop_factory() if prefer_uvloop else None

    async def wrapper() -> None:
        await coro

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(wrapper())
