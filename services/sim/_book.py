"""Shape of the simulated Level-1 book: where the touch sits and how deep each level is."""

from __future__ import annotations

from collections.abc import Callable

LEVELS = 5
LOT = 100  # shares per board lot


def touch(
    last: int, spread: int, up: int, dn: int, *, buyer_aggressed: bool, sealed: int
) -> tuple[int, int]:
    """(best bid, best ask) in ticks around ``last``; a side outside [dn, up] is empty.

    The last trade hit the ask when a buyer aggressed (so the ask sits at it) and the bid
    otherwise. ``sealed`` is +1 at a sealed limit-up (nobody sells), -1 at limit-down.
    """
    if sealed > 0:
        return up, up + 1
    if sealed < 0:
        return dn - 1, dn
    if buyer_aggressed:
        return max(last - spread, dn), last if last > dn else dn + 1
    return last, min(last + spread, up) if last < up else up + 1


def side(
    top: int, step: int, dn: int, up: int, lots: float, rand: Callable[[], float], scale: int
) -> list[list[float]]:
    """Levels from ``top`` outward by ``step`` ticks within [dn, up], (1 + U*lots) lots each."""
    if dn <= top + 4 * step <= up and dn <= top <= up:  # the usual case, unrolled: hot path
        return [
            [top / scale, (1 + int(rand() * lots)) * LOT],
            [(top + step) / scale, (1 + int(rand() * lots)) * LOT],
            [(top + 2 * step) / scale, (1 + int(rand() * lots)) * LOT],
            [(top + 3 * step) / scale, (1 + int(rand() * lots)) * LOT],
            [(top + 4 * step) / scale, (1 + int(rand() * lots)) * LOT],
        ]
    return [
        [price / scale, (1 + int(rand() * lots)) * LOT]
        for price in range(top, top + LEVELS * step, step)
        if dn <= price <= up
    ]
