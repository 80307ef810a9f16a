"""Running an adapter in the test's event loop, and reading what it published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.runner import run_adapter
from services.settings import AdapterSettings

# The simulator's close of a day, recorded (examples/make_sample_session.py).
SAMPLE_SESSION = Path(__file__).resolve().parents[2] / "examples" / "sample-session.jsonl.zst"


@asynccontextmanager
async def running_adapter(
    name: str, settings: AdapterSettings
) -> AsyncIterator[asyncio.Task[None]]:
    """``run_adapter(name)`` as a task; stopped (and its errors raised) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_adapter(name, settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def last_payload(js: JetStreamContext, stream: str, subject: str) -> dict[str, Any] | None:
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return orjson.loads(msg.data) if msg.data else None


async def eventually(
    probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Await ``probe()`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
