"""Waiting for a condition in tests, with a deadline instead of a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """True as soon as ``condition()`` holds; its last value once ``timeout`` has passed."""
    for _ in range(int(timeout / step)):
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()
