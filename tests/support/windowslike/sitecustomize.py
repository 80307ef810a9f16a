"""Makes a Python process behave like the Windows adapter host, as far as mdbridge can tell.

On ``PYTHONPATH`` of a subprocess (``tests/support/windowslike.py`` builds the environment),
Python imports this at start-up:
- ``uvloop`` cannot be imported (there is no win_amd64 wheel): a meta-path finder refuses it;
- every event loop made through the policy refuses ``add_signal_handler`` with
  ``NotImplementedError``, as Windows' ProactorEventLoop and SelectorEventLoop do.
Each loop made says so on stderr, so a test can tell the policy's loop was the one used.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TypeVarTuple, Unpack

Ts = TypeVarTuple("Ts")

LOOP_MARK = "windows-like event loop made"


class RefuseUvloop:
    """A meta-path finder: ``import uvloop`` fails as it does where uvloop is not installed."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "uvloop" or name.startswith("uvloop."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


class WindowsLikeLoop(asyncio.SelectorEventLoop):
    def add_signal_handler(
        self, sig: int, callback: Callable[[Unpack[Ts]], object], *args: *Ts
    ) -> None:
        raise NotImplementedError  # what asyncio's Windows loops do

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError


class WindowsLikePolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        print(LOOP_MARK, file=sys.stderr, flush=True)
        return WindowsLikeLoop()


sys.meta_path.insert(0, RefuseUvloop())
sys.modules.pop("uvloop", None)
asyncio.set_event_loop_policy(WindowsLikePolicy())
