"""A backend service on NATS: a running VWAP per Shanghai symbol, from the quote stream.

It reads ``md.quote.*.SH`` from JetStream with a durable pull consumer (no bridge involved),
turns each quote's cumulative ``volume``/``amount`` into deltas, and keeps per symbol
``sum(amount deltas) / sum(volume deltas)``. Its state, with the last stream sequence counted,
lives in a KV bucket and is written before the batch is acknowledged, so after a crash or a
restart it resumes exactly: the consumer redelivers what was not acknowledged and anything at
or below a symbol's stored sequence is recognised and skipped (counted once, never twice).

    python examples/vwap_service.py --nats-url nats://127.0.0.1:4222
    python examples/vwap_service.py --idle-exit 2 --summary   # drain what is there, print JSON

See docs/nats.md for the subjects, payloads and streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from dataclasses import asdict, dataclass
from typing import Any

import nats
import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, KeyValueConfig
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from schemas import STREAM_BY_TYPE, DataType

logger = logging.getLogger("vwap_service")

STATE_BUCKET = "vwap_state"


@dataclass
class SymbolState:
    seq: int = 0  # the last stream sequence counted
    volume: int = 0  # the last cumulative volume seen (shares)
    amount: float = 0.0  # the last cumulative amount seen (CNY)
    sum_volume: int = 0
    sum_amount: float = 0.0

    @property
    def vwap(self) -> float | None:
        return self.sum_amount / self.sum_volume if self.sum_volume else None

    def apply(self, seq: int, volume: int, amount: float) -> bool:
        """Count one quote; False when it was counted before (a redelivery)."""
        if seq <= self.seq:
            return False
        d_volume, d_amount = volume - self.volume, amount - self.amount
        if d_volume < 0 or d_amount < 0:  # cumulative totals went back: a new trading day
            self.sum_volume, self.sum_amount = 0, 0.0
            d_volume, d_amount = volume, amount
        self.sum_volume += d_volume
        self.sum_amount += d_amount
        self.seq, self.volume, self.amount = seq, volume, amount
        return True


class VwapService:
    def __init__(self, js: JetStreamContext, kv: KeyValue, durable: str) -> None:
        self._js = js
        self._kv = kv
        self._durable = durable
        self.states: dict[str, SymbolState] = {}
        self.counted = 0
        self.skipped = 0

    def _key(self, symbol: str) -> str:
        return f"{self._durable}.{symbol}"

    async def _state(self, symbol: str) -> SymbolState:
        state = self.states.get(symbol)
        if state is None:
            try:
                entry = await self._kv.get(self._key(symbol))
                state = SymbolState(**orjson.loads(entry.value or b"{}"))
            except KeyNotFoundError:
                state = SymbolState()
            self.states[symbol] = state
        return state

    async def handle_batch(self, batch: list[Any]) -> None:
        touched: set[str] = set()
        for msg in batch:
            quote = orjson.loads(msg.data)
            symbol = quote["symbol"]
            state = await self._state(symbol)
            if state.apply(msg.metadata.sequence.stream, quote["volume"], quote["amount"]):
                self.counted += 1
                touched.add(symbol)
            else:
                self.skipped += 1
        for symbol in touched:  # state first, then the ack: a crash in between only redelivers
            await self._kv.put(self._key(symbol), orjson.dumps(asdict(self.states[symbol])))
        await batch[-1].ack()  # AckPolicy.ALL: acknowledges the whole batch

    def summary(self) -> dict[str, Any]:
        return {
            "counted": self.counted,
            "skipped": self.skipped,
            "vwap": {
                symbol: {"vwap": s.vwap, "volume": s.sum_volume, "amount": s.sum_amount,
                         "seq": s.seq}
                for symbol, s in sorted(self.states.items())
            },
        }  # fmt: skip


async def state_bucket(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(STATE_BUCKET)
    except NotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=STATE_BUCKET, history=1))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    nc = await nats.connect(args.nats_url)
    js = nc.jetstream()
    service = VwapService(js, await state_bucket(js), args.durable)
    # A durable pull consumer: the broker remembers what was acknowledged, across restarts.
    sub = await js.pull_subscribe(
        args.subject,
        durable=args.durable,
        stream=STREAM_BY_TYPE[DataType.QUOTE],
        config=ConsumerConfig(
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.ALL,  # the retained day, then live
            ack_wait=30,
            max_ack_pending=10_000,
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    idle_since = loop.time()
    try:
        while not stop.is_set():
            try:
                batch = await sub.fetch(args.batch, timeout=0.5)
            except NatsTimeoutError:
                if args.idle_exit is not None and loop.time() - idle_since > args.idle_exit:
                    break
                continue
            await service.handle_batch(batch)
            idle_since = loop.time()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        await nc.drain()
    return service.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--subject", default="md.quote.*.SH", help="what to consume")
    parser.add_argument("--durable", default="vwap", help="consumer name; also the state key")
    parser.add_argument("--batch", type=int, default=256, help="messages per fetch")
    parser.add_argument("--idle-exit", type=float, help="stop after this many idle seconds")
    parser.add_argument("--summary", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    summary = asyncio.run(run(args))
    if args.summary:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
