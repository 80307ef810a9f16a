"""The xtquant (MiniQMT) adapter. ``xtquant`` itself is imported lazily, on the owner thread,
so this package loads (and is tested against a stand-in) on any platform."""

from __future__ import annotations

from services.xtquant.adapter import XtQuantAdapter

__all__ = ["XtQuantAdapter"]
