"""A channel: one shared subscription key whose members all receive identical frames.

The subscription id *is* the key (data type, symbol or market wildcard, frequency, filters),
so a message is encoded once per channel and the same text goes to every member.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from bridge.core.outbox import Item, Outbox
from schemas import DATA_MESSAGE_TYPE, DataType, data_subject
from schemas.filtering import kept_fields
from schemas.messages import parse_throttle_ms
from schemas.timefmt import SHANGHAI

_monotonic = time.monotonic

CONFLATABLE = frozenset({DataType.QUOTE, DataType.DEPTH})


def subscription_key(
    data_type: DataType, symbol: str, frequency: str, fields: list[str] | None
) -> str:
    key = f"{data_type.value}:{symbol}:{frequency}"
    if fields:
        digest = hashlib.blake2s(",".join(sorted(fields)).encode(), digest_size=4).hexdigest()
        key += f":f{digest}"
    return key


class SkipCovered:
    """Stands in for a member's hold after a catch-up, while the shared feed may be behind it.

    The snapshot or replay may have sent messages the feed has not delivered yet: those are
    dropped when they arrive. At the first message past everything the catch-up sent, the
    member goes back to plain delivery (``hold = None``), so the fan-out loop pays nothing.
    """

    __slots__ = ("floor", "floors", "member", "top")

    def __init__(self, member: Membership, floor: int, floors: dict[str, int] | None) -> None:
        self.member = member
        self.floor = floor
        self.floors = floors  # per subject, after a market-wide snapshot
        self.top = max(floor, max(floors.values())) if floors else floor

    def append(self, item: Item) -> None:
        seq = item.seq
        floors = self.floors
        if seq <= self.floor or (floors is not None and seq <= floors.get(item.subject, 0)):
            return
        if seq > self.top and self.member.hold is self:
            self.member.hold = None
        self.member.outbox.push(item)


@dataclass(eq=False, slots=True)
class Membership:
    """One connection's subscription to a channel, with its delivery statistics."""

    channel: Channel
    outbox: Outbox
    # while a snapshot/resume is in flight: the live items it buffers; just after: a filter
    hold: list[Item] | SkipCovered | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(SHANGHAI))
    last_update: float = 0.0  # epoch seconds of the last send; 0 before any
    messages: int = 0
    bytes: int = 0
    last_seq: int = 0
    dropped: int = 0
    start_seq: int = 0  # every message on the channel after this stream position reaches it

    def release_hold(self, sent: dict[str, int], floor: int = 0) -> None:
        """Deliver what was held during catch-up, skipping what the catch-up already covered.

        ``sent`` maps each subject to the last sequence the snapshot delivered; a replay
        gives ``floor`` instead: every message up to it has been delivered, whatever its subject.
        """
        held = self.hold if isinstance(self.hold, list) else []
        if self.channel.wildcard:
            floors = sent or None
        else:
            floor, floors = max(floor, sent.get(self.channel.subject, 0)), None
        skip = SkipCovered(self, floor, floors) if floor or floors else None
        self.hold = skip
        for item in held:
            if skip is not None:
                skip.append(item)
            else:
                self.outbox.push(item)


class Channel:
    __slots__ = (
        "_head",
        "asked",
        "conflatable",
        "data_type",
        "fields",
        "frequency",
        "key",
        "latest",
        "members",
        "period",
        "subject",
        "symbol",
        "throttle_ms",
        "wildcard",
    )

    def __init__(
        self, data_type: DataType, symbol: str, frequency: str, fields: list[str] | None
    ) -> None:
        self.key = subscription_key(data_type, symbol, frequency, fields)
        self.data_type = data_type
        self.symbol = symbol
        self.frequency = frequency
        self.period = frequency if data_type is DataType.KLINE else None
        self.throttle_ms = None if data_type is DataType.KLINE else parse_throttle_ms(frequency)
        self.subject = data_subject(data_type, symbol, self.period)
        self.wildcard = symbol.startswith("*")
        self.asked = sorted(set(fields)) if fields else None  # filters.fields as requested
        # what a filtered payload keeps: the fields asked for plus those naming the message
        self.fields = kept_fields(data_type, fields) if fields else None
        self.conflatable = data_type in CONFLATABLE
        self.members: list[Membership] = []
        # latest (subject, seq, broker ms, payload) per subject, for throttled delivery
        self.latest: dict[str, tuple[int, int, str]] = {}
        self._head = '{"type":"' + DATA_MESSAGE_TYPE[data_type].value + '","timestamp":"'

    def encode(
        self,
        subject: str,
        seq: int,
        broker_ms: int,
        payload: str,
        now_iso: str,
        extra: str = "",
        *,
        conflate: bool = True,
    ) -> Item:
        """The frame for one message, built by concatenation (payload is already JSON).

        ``conflate=False`` for history a client asked for in full (resume, ack mode).
        """
        if self.fields is not None:
            payload = self._project(payload)
        text = (
            f'{self._head}{now_iso}","data":{payload},"metadata":{{"subscription_id":"{self.key}",'
            f'"subject":"{subject}","seq":{seq},"broker_ms":{broker_ms}{extra}}}}}'
        )
        conflate_key = (
            (self if not self.wildcard else (self, subject))
            if self.conflatable and conflate
            else None
        )
        return Item(text, self, seq, conflate_key, subject, _monotonic())  # make_item, inlined

    def _project(self, payload: str) -> str:
        fields = self.fields or frozenset()
        data = orjson.loads(payload)
        return orjson.dumps({k: v for k, v in data.items() if k in fields}).decode()

    def deliver(self, item: Item) -> None:
        for member in self.members:
            if member.hold is None:
                member.outbox.push(item)
            else:
                member.hold.append(item)
