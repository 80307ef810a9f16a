"""Library clients that record every delivery, to be checked against the stream afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from nats.aio.client import Client as NatsClient

from mdbridge.client import DataMessage, MarketDataClient, StatusMessage
from tests.support.invariants import Received, Report, check, stream_truth
from tests.support.waiting import until


class RecordingClient:
    def __init__(self, client: MarketDataClient) -> None:
        self.client = client
        self.starts: dict[str, int] = {}
        self.subjects: dict[str, str] = {}
        self.received: dict[str, list[Received]] = defaultdict(list)
        self.statuses: list[StatusMessage] = []
        self._task: asyncio.Task[None] | None = None

    async def subscribe(self, symbols: list[str], **options: Any) -> None:
        results = await self.client.subscribe(symbols, **options)
        for result in results:
            assert result["status"] == "subscribed", result
            key = result["subscription_id"]
            self.starts[key] = int(result.get("seq") or 0)
            self.subjects[key] = f"md.{result['data_type']}.{result['symbol']}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._record())

    async def _record(self) -> None:
        async for message in self.client:
            if isinstance(message, DataMessage):
                self.received[message.subscription_id].append(
                    Received(message.subject, message.seq, message.snapshot)
                )
            elif isinstance(message, StatusMessage):
                self.statuses.append(message)

    def events(self, name: str) -> list[StatusMessage]:
        return [s for s in self.statuses if s.event == name]

    def caught_up(self, last_by_subject: dict[str, int]) -> bool:
        for key, subject in self.subjects.items():
            got = self.received.get(key)
            target = last_by_subject.get(subject, 0)
            if target > self.starts[key] and (not got or got[-1].seq < target):
                return False
        return True

    def check(self, truth: dict[str, list[tuple[str, int]]], label: str) -> list[Report]:
        reports = []
        for key, subject in self.subjects.items():
            rows = truth.get(subject, [])
            end = rows[-1][1] if rows else self.starts[key]
            reports.append(
                check(self.received.get(key, []), rows, self.starts[key], end, f"{label} {key}")
            )
        return reports

    async def close(self) -> None:
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def by_subject(rows: list[tuple[str, int]]) -> dict[str, list[tuple[str, int]]]:
    grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for subject, seq in rows:
        grouped[subject].append((subject, seq))
    return grouped


async def wait_caught_up(
    clients: list[RecordingClient], truth: dict[str, list[tuple[str, int]]], timeout: float
) -> bool:
    last = {subject: rows[-1][1] for subject, rows in truth.items() if rows}
    return await until(lambda: all(c.caught_up(last) for c in clients), timeout, 0.1)


async def verify(
    nc: NatsClient, clients: list[RecordingClient], label: str, timeout: float = 30
) -> int:
    """Every client got exactly the stream's quotes of its subjects, from where each of its
    subscriptions started: no gap, no duplicate, in order. Returns how many were checked."""
    start = min(min(c.starts.values()) for c in clients) + 1
    truth = by_subject(await stream_truth(nc.jetstream(), "MD_QUOTE", "md.quote.>", start))
    assert await wait_caught_up(clients, truth, timeout), f"{label}: clients did not catch up"
    checked = 0
    for client in clients:
        for report in client.check(truth, label):
            assert report.ok, str(report)
            checked += report.received
        assert client.client.duplicates == 0
    return checked
