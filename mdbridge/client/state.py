"""What the client remembers of each subscription, so it can resume it after a reconnect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mdbridge.client.messages import DataMessage, StatusMessage

OnReply = Callable[[dict[str, Any]], None]

THROTTLE_FREE = ("tick",)


@dataclass
class SubscriptionState:
    subscription_id: str
    symbol: str
    data_type: str
    frequency: str
    fields: tuple[str, ...] | None = None
    snapshot: bool = True
    ack: bool = False
    durable: str | None = None
    batch: bool = True
    epoch: str | None = None
    last_seq: int = 0  # every message up to here was received: where a resume starts
    since: str | None = None  # subscribed with a replay from this instant (ISO 8601)
    messages: int = 0
    duplicates: int = 0

    @property
    def throttled(self) -> bool:
        return self.data_type != "kline" and self.frequency not in THROTTLE_FREE

    @property
    def in_sequence(self) -> bool:
        """Messages arrive in stream order (not throttled, not redelivered in ack mode)."""
        return not self.throttled and not self.ack

    def accept(self, message: DataMessage) -> bool:
        """Account for a message; False for one already received (a duplicate)."""
        self.messages += 1
        if message.history:
            return True  # from the history stream: another sequence, not a position
        if message.snapshot or not self.in_sequence:
            self.last_seq = max(self.last_seq, message.seq)
            return True
        if message.seq <= self.last_seq:
            self.duplicates += 1
            return False
        self.last_seq = message.seq
        return True

    def group_key(self) -> tuple[Any, ...]:
        """Subscriptions with equal keys are resumed by one request."""
        return (
            self.data_type,
            self.frequency,
            self.fields,
            self.ack,
            self.durable,
            self.batch,
            self.snapshot,
            self.epoch,
            self.last_seq,
            self.since if not self.last_seq else None,
        )


class Subscriptions(dict[str, SubscriptionState]):
    """The client's subscriptions by id, kept up to date from replies and status events."""

    def registrar(self, template: SubscriptionState) -> OnReply:
        """Records what a ``subscribe`` reply confirms.

        Runs in the client's reader before the frames that follow the reply, so the
        subscription is known by the time its first message arrives.
        """

        def register(frame: dict[str, Any]) -> None:
            for result in frame.get("data", {}).get("subscriptions", []):
                key = result.get("subscription_id")
                if result.get("status") not in ("subscribed", "already_subscribed") or not key:
                    continue
                state = self.get(key)
                epoch = result.get("epoch")
                if state is None:
                    state = SubscriptionState(**(vars(template) | {"subscription_id": key}))
                    state.symbol = result["symbol"]
                    state.frequency = result.get("frequency") or state.frequency
                    # a replay from an instant delivers messages before the reply's position
                    state.last_seq = 0 if state.since else int(result.get("seq") or 0)
                    self[key] = state
                elif epoch and state.epoch and epoch != state.epoch:
                    state.last_seq = 0  # another stream: the server answers recovered: false
                state.epoch = epoch or state.epoch

        return register

    def on_status(self, status: StatusMessage) -> None:
        data = status.data
        if status.event == "recovered":
            state = self.get(str(data.get("subscription_id")))
            if state is not None:
                seq = int(data.get("seq") or 0)
                # not recovered: a new start (new stream or lost history), so take its position
                state.last_seq = max(state.last_seq, seq) if data.get("recovered") else seq
                state.epoch = data.get("epoch") or state.epoch
        elif status.event == "subscription_ended":
            self.pop(str(data.get("subscription_id")), None)

    def resume_requests(self, max_symbols: int) -> list[dict[str, Any]]:
        return resume_requests(list(self.values()), max_symbols)


def resume_requests(states: list[SubscriptionState], max_symbols: int) -> list[dict[str, Any]]:
    """The ``subscribe`` requests that bring every subscription back where it was."""
    groups: dict[tuple[Any, ...], list[SubscriptionState]] = {}
    for state in states:
        groups.setdefault(state.group_key(), []).append(state)
    requests = []
    for members in groups.values():
        first = members[0]
        for i in range(0, len(members), max_symbols):
            chunk = members[i : i + max_symbols]
            request: dict[str, Any] = {
                "symbols": [s.symbol for s in chunk],
                "data_type": first.data_type,
                "frequency": first.frequency,
                "snapshot": first.snapshot,
                "batch": first.batch,
            }
            if first.fields is not None:
                request["filters"] = {"fields": list(first.fields)}
            if first.ack:
                request |= {"ack": True, "durable": first.durable}
            if first.since and not first.last_seq:  # nothing received yet: the same replay
                request["resume_from"] = {"time": first.since}
            elif first.epoch:  # ack mode: only used if the durable has to be created again
                request["resume_from"] = {"seq": first.last_seq, "epoch": first.epoch}
            requests.append(request)
    return requests
