"""xtquant's own bars: it re-pushes a forming bar on every tick; a later bar finalizes it."""

from __future__ import annotations

from typing import Any

from services.kline import KLineEvent


class SourceBars:
    """The open bar per (period, symbol); :meth:`update` returns what to publish."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], KLineEvent] = {}

    def update(self, start_ms: int, payload: dict[str, Any]) -> list[KLineEvent]:
        key = (payload["period"], payload["symbol"])
        current = self._open.get(key)
        if current is not None and start_ms < current.start_ms:
            return []  # an older bar pushed again (history after a resubscribe): already done
        out = []
        if current is not None and start_ms > current.start_ms:
            out.append(_final(current))
        event = KLineEvent(payload["period"], start_ms, payload)
        self._open[key] = event
        out.append(event)
        return out

    def close(self, symbol: str | None = None) -> list[KLineEvent]:
        """Finalize the open bars of ``symbol`` (of every symbol when None): the session ended."""
        keys = [key for key in self._open if symbol is None or key[1] == symbol]
        return [_final(self._open.pop(key)) for key in keys]


def _final(event: KLineEvent) -> KLineEvent:
    return KLineEvent(event.period, event.start_ms, {**event.payload, "closed": True})
