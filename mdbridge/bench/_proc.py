"""Child processes that speak JSON lines: the plan and commands on stdin, events on stdout.

Workers and the publisher are separate ``python -m`` processes so that the load generator
never shares an interpreter (or a GIL) with what it measures; the parent only routes small
messages. ``ChildIO`` is the child's side, ``Child`` the parent's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import orjson

from mdbridge.bench.errors import ChildError

Event = dict[str, Any]
LINE_LIMIT = 64 * 1024 * 1024  # a worker's final report carries its whole histogram


class Child:
    """The parent's handle on one child: send commands, wait for named events."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.latest: dict[str, Event] = {}

    @classmethod
    async def spawn(cls, name: str, module: str, plan: dict[str, Any]) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        child = cls(name, process)
        child.send(plan)
        return child

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(message) + b"\n")

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                event: Event = orjson.loads(line)
                self.latest[event.get("event", "")] = event
                await self._events.put(event)
        finally:
            await self._events.put(None)

    async def next_event(self) -> Event:
        event = await self._events.get()
        if event is None:
            await self._events.put(None)  # stays at the end for later callers
            code = await self.process.wait()
            raise ChildError(f"{self.name} exited with {code}")
        if event.get("event") == "error":
            raise ChildError(f"{self.name}: {event.get('message')}")
        return event

    async def wait_for(self, name: str, timeout: float) -> Event:
        """The next event called ``name`` (others are kept in ``latest`` only)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event()
                if event.get("event") == name:
                    return event

    async def request(self, command: dict[str, Any], reply: str, timeout: float) -> Event:
        self.send(command)
        return await self.wait_for(reply, timeout)

    async def close(self, timeout: float = 10.0) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                self.send({"cmd": "exit"})
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class ChildIO:
    """The child's side: read commands from stdin, write events to stdout."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    @classmethod
    async def open(cls) -> ChildIO:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        return cls(reader)

    async def read(self) -> dict[str, Any] | None:
        """The next command; None when the parent is gone (stdin closed)."""
        line = await self._reader.readline()
        if not line:
            return None
        message: dict[str, Any] = orjson.loads(line)
        return message

    @staticmethod
    def emit(event: str, **fields: Any) -> None:
        sys.stdout.buffer.write(orjson.dumps({"event": event, **fields}) + b"\n")
        sys.stdout.buffer.flush()
