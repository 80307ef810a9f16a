"""One WebSocket connection: its subscriptions, its control requests and its writer."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from nats.errors import Error as NatsError

from bridge.access.admission import TokenBucket
from bridge.access.principal import ANONYMOUS, Principal
from bridge.core.channel import Channel, Membership, subscription_key
from bridge.core.frames import CLOCK, batch_frame, control_frame, error_frame
from bridge.core.framesink import FrameSink, text_frame
from bridge.core.hub import Hub
from bridge.core.outbox import Flusher, Item, Outbox, control_item
from bridge.errors import RequestError, SlowConsumerError
from bridge.market.aliases import market_wildcard
from bridge.market.directory import SymbolDirectory
from bridge.recovery.ackmode import ack_subscription_key
from bridge.recovery.reliability import Reliability
from bridge.settings import BridgeSettings
from bridge.ws.guarantees import Guarantees
from bridge.ws.hooks import control_span
from bridge.ws.slownotice import ConflationNotices
from bridge.ws.validation import parse_data, parse_frame
from schemas import (
    CloseCode,
    DataType,
    ErrorCode,
    MessageType,
    ModifyRequest,
    StatusEvent,
    SubscriptionInfo,
    SubscriptionRequest,
    SubscriptionResponse,
    UnsubscribeRequest,
    logctx,
)
from schemas.filtering import payload_fields, unknown_fields
from schemas.messages import normalize_frequency
from schemas.symbols import is_market_wildcard, is_symbol
from schemas.timefmt import SHANGHAI

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
Handler = Callable[[str | int | None, dict[str, Any]], Awaitable[None]]
YIELD_EVERY = 50  # symbols of one subscribe served between two yields to the event loop


def new_connection_id() -> str:
    """Random, so an id seen once (a log line, a shared screen) predicts no other."""
    return f"c{secrets.token_hex(8)}"


def check_fields(data_type: DataType, fields: list[str] | None) -> None:
    """Refuse ``filters.fields`` naming a field the data type's payload does not have."""
    unknown = unknown_fields(data_type, fields or [])
    if unknown:
        known = ", ".join(sorted(payload_fields(data_type)))
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"filters.fields: no field {', '.join(map(repr, unknown))} in {data_type.value} "
            f"data; one of: {known}",
        )


class Session:
    def __init__(
        self,
        send: Send,
        hub: Hub,
        directory: SymbolDirectory,
        settings: BridgeSettings,
        *,
        connection_id: str | None = None,
        reliability: Reliability | None = None,
    ) -> None:
        self.id = connection_id or new_connection_id()
        self._send = send
        self._hub = hub
        self._directory = directory
        self._settings = settings
        self.memberships: dict[str, Membership] = {}
        self.notices = ConflationNotices(
            self.memberships,
            self._push_first,
            settings.slow_consumer_notice_s,
            settings.queue_max_bytes,
            settings.queue_max_age_ms,
        )
        self.outbox = Outbox(
            settings.queue_max_bytes,
            self.notices.on_conflated,
            self._on_overflow,
            max_age_s=settings.queue_max_age_ms / 1000,
        )
        self.guarantees = Guarantees(
            connection_id=self.id,
            hub=hub,
            outbox=self.outbox,
            reliability=reliability,
            push_frame=self.push_frame,
            leave=self._leave,
            send_snapshot=self._send_snapshot,
        )
        self.batch_ok = True
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_out = 0
        self.errors = 0
        # set by bridge.observe.observability: samples latency, adds trace hop times; sees each
        # batch
        self.probe: Callable[[list[Item]], list[Item]] | None = None
        # Who this connection is (bridge/ws/gate.py sets it; durable names use its subject).
        self.principal: Principal = ANONYMOUS
        self.peer_ip = ""  # the client's address (the gate sets it): scopes anonymous durables
        self.on_auth: Handler | None = None  # the gate's auth-frame handler
        self.sending_since = 0.0  # monotonic start of a send still in progress; 0 when idle
        self._sink: FrameSink | None = None  # set by go_direct: frames written synchronously
        self.direct_writes = 0  # writes made by the flusher rather than the writer task
        self.socket_waits = 0  # times the writer task waited for a full socket buffer
        self._ended: asyncio.Future[tuple[int, str]] | None = None
        self._suggest_left = 0
        self._suggest_bucket = TokenBucket(
            settings.suggestions_per_s, settings.suggestions_per_s, time.monotonic()
        )
        self._handlers: dict[str, Handler] = {
            MessageType.SUBSCRIBE: self._subscribe,
            MessageType.UNSUBSCRIBE: self._unsubscribe,
            MessageType.MODIFY: self._modify,
            MessageType.LIST_SUBSCRIPTIONS: self._list,
            MessageType.PING: self._ping,
            MessageType.AUTH: self._auth,
            MessageType.ACK: self.guarantees.ack,
        }

    @property
    def conflated(self) -> int:
        return self.notices.total

    # -- ending the connection -----------------------------------------------------------

    @property
    def ended(self) -> asyncio.Future[tuple[int, str]]:
        """Resolved with (close code, reason) when the server decides to close."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        return self._ended

    def end(self, code: int, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result((code, reason))

    def _on_overflow(self, reason: str) -> None:
        self.end(CloseCode.SLOW_CONSUMER, reason)

    # -- outgoing ------------------------------------------------------------------------

    def reply(self, type_: MessageType, data: Any, request_id: str | int | None) -> None:
        self.outbox.push(control_item(control_frame(type_, data, request_id)))

    def push_frame(self, text: str) -> None:
        self.outbox.push(control_item(text))

    def _push_first(self, text: str) -> None:
        """A control frame ahead of everything queued (a slow-consumer notice)."""
        self.outbox.push_first(control_item(text))

    def go_direct(self, sink: FrameSink, flusher: Flusher) -> None:
        """Write frames straight to ``sink`` after each fan-out (bridge/core/framesink.py)."""
        self._sink = sink
        self.outbox.go_direct(self._write_direct, flusher)

    def stop_direct(self) -> None:
        """From now on only the writer task writes, through the ASGI path (closing)."""
        self._sink = None
        self.outbox.stop_direct()

    def _write_direct(self) -> bool:
        """The flusher's call: write all that is queued now; False when the task must."""
        sink = self._sink
        if sink is None or self.sending_since or not sink.ready():
            return False
        outbox, settings = self.outbox, self._settings
        limit, max_bytes = settings.batch_max_messages, settings.batch_max_bytes
        items = outbox.take_now(limit, max_bytes)
        while items:
            if outbox.overflowed:
                return False  # the writer task raises; the endpoint closes
            self._write_frames(sink, items)
            self.direct_writes += 1
            if not len(outbox):
                return True
            if not sink.writable:
                return False
            items = outbox.take_now(limit, max_bytes)
        return True

    def _write_frames(self, sink: FrameSink, items: list[Item]) -> None:
        """One frame per item (each built once per channel, shared), or one ``batch``."""
        if self.probe is not None:
            items = self.probe(items)
        if len(items) == 1:
            item = items[0]
            frame = item.frame
            if frame is None:
                frame = item.frame = text_frame(item.text.encode())
            sink.write(frame)
            nbytes = len(item.text)
        elif not self.batch_ok:
            frames, nbytes = [], 0
            for item in items:
                frame = item.frame
                if frame is None:
                    frame = item.frame = text_frame(item.text.encode())
                frames.append(frame)
                nbytes += len(item.text)
            sink.write_many(frames)  # one write for the turn, not one per frame
        else:
            text = batch_frame([item.text for item in items])
            sink.write(text_frame(text.encode()))
            nbytes = len(text)
        self._sent(items, nbytes)

    async def run_writer(self) -> None:
        """Send what the direct path could not (or everything, with no sink), in order.

        With a sink, wait for the socket first and take from the queue after, so a backlog
        waits in the queue (where it is conflated by age), not in this task's hands.
        """
        outbox, settings = self.outbox, self._settings
        limit, max_bytes = settings.batch_max_messages, settings.batch_max_bytes
        while True:
            await outbox.wait()
            sink = self._sink
            if sink is not None and sink.usable:
                if not sink.writable:
                    self.socket_waits += 1
                    self.sending_since = time.monotonic()  # the watchdog closes a stalled peer
                    await sink.wait_writable()
                    self.sending_since = 0.0
                items = outbox.take_now(limit, max_bytes)
                if outbox.overflowed:
                    raise SlowConsumerError(f"send queue passed {settings.queue_max_bytes} bytes")
                if items and sink.usable:
                    self._write_frames(sink, items)
                    continue
            else:
                items = outbox.take_now(limit, max_bytes)
                if outbox.overflowed:
                    raise SlowConsumerError(f"send queue passed {settings.queue_max_bytes} bytes")
            if items:
                await self._send_items(items)

    async def _send_items(self, items: list[Item]) -> None:
        """The ASGI path: one ``send`` per frame, or one for a ``batch``."""
        if self.probe is not None:
            items = self.probe(items)
        self.sending_since = time.monotonic()  # the watchdog closes a send that hangs
        if len(items) == 1 or not self.batch_ok:
            nbytes = 0
            for item in items:
                await self._send(item.text)
                nbytes += len(item.text)
        else:
            text = batch_frame([item.text for item in items])
            await self._send(text)
            nbytes = len(text)
        self.sending_since = 0.0
        self._sent(items, nbytes)

    def _sent(self, items: list[Item], nbytes: int) -> None:
        """Connection and per-subscription statistics for frames just written."""
        self.bytes_out += nbytes
        self.frames_out += len(items)
        sent_at = time.time()
        memberships = self.memberships
        for item in items:
            channel = item.channel
            if channel is not None:
                member = memberships.get(channel.key)
                if member is not None:
                    member.messages += 1
                    member.bytes += len(item.text)
                    member.last_seq = item.seq
                    member.last_update = sent_at

    # -- incoming ------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Serve one client frame; every failure becomes an ``error`` frame, never a crash."""
        self.frames_in += 1
        request_id: str | int | None = None
        try:
            frame = parse_frame(text)
            request_id = frame.id
            handler = self._handlers.get(frame.type)
            if handler is None:
                known = ", ".join(sorted(self._handlers))
                raise RequestError(
                    ErrorCode.BAD_REQUEST, f"unknown message type {frame.type!r}; one of: {known}"
                )
            self.principal.check_request(frame.type)
            with control_span(frame.type, frame.data):
                await handler(request_id, frame.data)
        except RequestError as exc:
            self.errors += 1
            self.push_frame(
                error_frame(
                    exc.code,
                    exc.message,
                    request_id if request_id is not None else exc.request_id,
                    suggestions=exc.suggestions,
                    limit=exc.limit,
                )
            )
        except Exception:
            self.errors += 1
            logger.exception("request failed", extra={"connection_id": self.id})
            self.push_frame(error_frame(ErrorCode.INTERNAL, "internal error", request_id))

    async def _ping(self, request_id: str | int | None, data: Any) -> None:
        self.reply(MessageType.PONG, data, request_id)

    async def _auth(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        if self.on_auth is not None:
            await self.on_auth(request_id, data)
            return
        event = {"event": StatusEvent.AUTHENTICATED.value, **self.principal.describe()}
        self.reply(MessageType.STATUS, event, request_id)

    # -- subscriptions -------------------------------------------------------------------

    def _canonical(self, text: str) -> str:
        """The listed symbol or market wildcard ``text`` spells, else ``text`` as given."""
        if is_market_wildcard(text):
            return text
        return self._directory.resolve(text) or market_wildcard(text) or text

    def _check_symbol(self, symbol: str) -> None:
        if is_market_wildcard(symbol):
            return
        if is_symbol(symbol) and symbol in self._directory:
            return
        suggestions = self._suggest(symbol)
        message = f"unknown symbol {symbol!r}"
        if suggestions:  # a bare code such as 000001 names every instrument with that code
            message += f"; did you mean {self._directory.named(suggestions[:5])}?"
        raise RequestError(ErrorCode.UNKNOWN_SYMBOL, message, suggestions=suggestions)

    def _suggest(self, symbol: str) -> list[str]:
        """Suggestions within the budgets (per request, per connection per second): a frame of
        500 misspelt symbols must not hold the event loop."""
        if self._suggest_left <= 0 or not self._suggest_bucket.take(time.monotonic()):
            return []
        self._suggest_left -= 1
        return self._directory.suggest(symbol)

    async def _subscribe(self, request_id: str | int | None, data: dict[str, Any]) -> None:  # noqa: C901 (one flow, top to bottom: see pyproject)
        request = parse_data(SubscriptionRequest, data)
        self.guarantees.check(request)
        fields = request.filters.fields if request.filters else None
        check_fields(request.data_type, fields)
        if not request.batch:
            self.batch_ok = False
        frequency = request.frequency or "tick"
        limit = self.principal.subscription_limit(self._settings.max_subscriptions)
        results: list[dict[str, Any]] = []
        joined: list[tuple[Membership, dict[str, Any]]] = []
        limit_hit = False
        durable_limit: RequestError | None = None
        self._suggest_left = self._settings.suggestions_per_request
        for n, requested in enumerate(dict.fromkeys(request.symbol_list())):  # order kept
            if n % YIELD_EVERY == YIELD_EVERY - 1:  # 500 symbols: let other clients in meanwhile
                await asyncio.sleep(0)
            symbol = self._canonical(requested)
            key = subscription_key(request.data_type, symbol, frequency, fields)
            if request.ack and request.durable:
                key = ack_subscription_key(key, request.durable)
            logctx.update(subscription_id=key)  # for this request's log lines only
            base: dict[str, Any] = {
                "symbol": symbol,
                "data_type": request.data_type,
                "frequency": frequency,
            }
            if symbol != requested:  # say which canonical symbol an alias was read as
                base["requested"] = requested
            epoch = self._hub.epoch_for(request.data_type)
            if key in self.memberships:
                already = SubscriptionResponse(
                    subscription_id=key,
                    status="already_subscribed",
                    message="already subscribed",
                    epoch=epoch,
                    **base,
                )
                results.append(already.model_dump(mode="json"))
                continue
            try:
                self._check_symbol(symbol)
                self.principal.check_subscription(request.data_type, symbol)
                if len(self.memberships) >= limit:
                    limit_hit = True
                    raise RequestError(
                        ErrorCode.SUBSCRIPTION_LIMIT,
                        f"at most {limit} subscriptions per connection",
                    )
                member, extra = await self.guarantees.join(
                    request, self.principal, self.peer_ip, symbol, frequency, fields, key
                )
            except RequestError as exc:
                if exc.code is ErrorCode.DURABLE_LIMIT:
                    durable_limit = exc
                failed = SubscriptionResponse(
                    subscription_id=None,
                    status="error",
                    message=exc.message,
                    code=exc.code,
                    suggestions=exc.suggestions,
                    **base,
                )
                results.append(failed.model_dump(mode="json"))
                continue
            self.memberships[key] = member
            response = SubscriptionResponse(
                subscription_id=key, status="subscribed", message="subscribed", epoch=epoch, **base
            )
            results.append(response.model_dump(mode="json") | extra)
            if not request.ack:
                joined.append((member, results[-1]))
        try:
            await self._hub.sync_interest()
        except (NatsError, TimeoutError) as exc:  # leave nothing half-joined and held
            for key in [r["subscription_id"] for r in results if r.get("status") == "subscribed"]:
                self._leave(key)
            raise RequestError(
                ErrorCode.UNAVAILABLE, f"the broker did not answer: {exc!r}"
            ) from None
        for member, result in joined:
            # Every message after this position reaches the member: a resume point from the start.
            self._hub.settle_start(member)
            result["seq"] = member.start_seq
        reply: dict[str, Any] = {"subscriptions": results}
        if limit_hit:
            reply["limit"] = {"name": "max_subscriptions", "value": limit}
        self.reply(MessageType.SUBSCRIBE, reply, request_id)
        if limit_hit:
            self.push_frame(
                error_frame(
                    ErrorCode.SUBSCRIPTION_LIMIT,
                    f"subscription limit reached: at most {limit} per connection",
                    request_id,
                    limit=("max_subscriptions", limit),
                )
            )
        if durable_limit is not None:
            self.push_frame(
                error_frame(
                    ErrorCode.DURABLE_LIMIT,
                    durable_limit.message,
                    request_id,
                    limit=durable_limit.limit,
                )
            )
        for member, _ in joined:
            if request.resume_from is not None:
                await self.guarantees.resume(member, request.resume_from, member.start_seq)
            elif request.history is not None:
                await self.guarantees.send_history(member, request.history)
            elif request.snapshot:
                try:
                    await self._send_snapshot(member)
                except (NatsError, TimeoutError) as exc:  # answered, never left waiting
                    reason = f"the snapshot could not be read: {exc!r}"
                    self.guarantees.end_subscription(
                        member.channel.key, reason, ErrorCode.UNAVAILABLE
                    )
            else:
                member.release_hold({})
        self.guarantees.announce_down_sources(m.channel for m in self.memberships.values())

    def _snapshot_subjects(self, channel: Channel) -> list[str]:
        if not channel.wildcard:
            return [channel.subject]
        market = channel.symbol.rpartition(".")[2]
        prefix = channel.subject.rpartition("*")[0]
        return [prefix + symbol for symbol in self._directory.symbols(market)]

    async def _send_snapshot(self, member: Membership, notice: str | None = None) -> None:
        channel = member.channel
        snaps = await self._hub.latest_many(channel.data_type, self._snapshot_subjects(channel))
        sent: dict[str, int] = {}
        stamp = CLOCK.now_iso()
        for subject, seq, broker_ms, payload in snaps:
            member.outbox.push(
                channel.encode(subject, seq, broker_ms, payload, stamp, ',"snapshot":true')
            )
            sent[subject] = seq
        if notice is not None:  # e.g. a resume result: after the snapshot, before live data
            self.push_frame(notice)
        member.release_hold(sent)

    def _leave(self, key: str) -> bool:
        member = self.memberships.pop(key, None)
        if member is None:
            return False
        self.outbox.exact.discard(member.channel)
        if not self.guarantees.release(key):
            self._hub.leave(member)
        return True

    async def _unsubscribe(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        request = parse_data(UnsubscribeRequest, data)
        if request.subscription_ids is not None:
            wanted = request.subscription_ids
        else:
            # as subscribe reads them: sh600000 unsubscribes 600000.SH
            asked = {self._canonical(s): s for s in request.symbols or []}
            wanted = [
                key
                for key, m in self.memberships.items()
                if m.channel.symbol in asked
                and (request.data_type is None or m.channel.data_type == request.data_type)
            ]
            held = {self.memberships[k].channel.symbol for k in wanted}
            wanted += sorted(spelt for symbol, spelt in asked.items() if symbol not in held)
        removed = []
        for key in wanted:
            ack = self.guarantees.acks.get(key)
            if self._leave(key):
                removed.append(key)
                if ack is not None:  # unsubscribing on purpose ends the durable too
                    await ack.delete()
        not_found = [key for key in wanted if key not in removed]
        self.reply(
            MessageType.UNSUBSCRIBE, {"removed": removed, "not_found": not_found}, request_id
        )

    async def _modify(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        request = parse_data(ModifyRequest, data)
        old = self.memberships.get(request.subscription_id)
        if old is None:
            raise RequestError(
                ErrorCode.UNKNOWN_SUBSCRIPTION, f"no subscription {request.subscription_id!r}"
            )
        if request.subscription_id in self.guarantees.acks:
            raise RequestError(
                ErrorCode.BAD_REQUEST, "an ack-mode subscription cannot be modified; resubscribe"
            )
        channel = old.channel
        try:
            frequency = normalize_frequency(
                channel.data_type, request.frequency or channel.frequency
            )
        except ValueError as exc:
            raise RequestError(ErrorCode.BAD_REQUEST, str(exc)) from None
        if request.filters is not None:
            fields = request.filters.fields
            check_fields(channel.data_type, fields)
        else:
            fields = channel.asked
        key = subscription_key(channel.data_type, channel.symbol, frequency, fields)
        member = old
        fresh = False  # another subject (a kline period): served like a fresh subscribe
        if key != request.subscription_id:
            if key in self.memberships:
                raise RequestError(ErrorCode.BAD_REQUEST, f"already subscribed as {key!r}")
            fresh = channel.data_type is DataType.KLINE and frequency != channel.frequency
            # Join the new channel before leaving the old one: the feed never stops. A new
            # subject is held until its snapshot is queued, as on subscribe.
            member = self._hub.join(
                self.outbox, channel.data_type, channel.symbol, frequency, fields, hold=fresh
            )
            try:
                await self._hub.sync_interest()  # same subject: already delivered, at once
            except (NatsError, TimeoutError) as exc:
                self._hub.leave(member)
                raise RequestError(
                    ErrorCode.UNAVAILABLE, f"the broker did not answer: {exc!r}"
                ) from None
            self._hub.settle_start(member)
            member.created_at = old.created_at
            self.memberships[key] = member
            self._leave(request.subscription_id)
        response = SubscriptionResponse(
            subscription_id=key,
            status="modified",
            message=f"modified (was {request.subscription_id})",
            symbol=channel.symbol,
            data_type=channel.data_type,
            frequency=frequency,
            epoch=self._hub.epoch_for(channel.data_type),
            seq=member.start_seq if member is not old else member.last_seq or member.start_seq,
        )
        payload = response.model_dump(mode="json") | {"previous_id": request.subscription_id}
        self.reply(MessageType.MODIFY, payload, request_id)
        if fresh:
            await self._send_snapshot(member)

    def subscription_rows(self) -> list[dict[str, Any]]:
        rows = []
        for key, m in self.memberships.items():
            info = SubscriptionInfo(
                subscription_id=key,
                symbol=m.channel.symbol,
                data_type=DataType(m.channel.data_type),
                frequency=m.channel.frequency,
                created_at=m.created_at,
                last_update=datetime.fromtimestamp(m.last_update, SHANGHAI)
                if m.last_update
                else None,
                messages=m.messages,
                bytes=m.bytes,
                last_seq=m.last_seq,
                dropped=m.dropped,
            )
            rows.append(info.model_dump(mode="json"))
        return rows

    async def _list(self, request_id: str | int | None, data: dict[str, Any]) -> None:
        self.reply(
            MessageType.LIST_SUBSCRIPTIONS,
            {
                "subscriptions": self.subscription_rows(),
                "limit": self.principal.subscription_limit(self._settings.max_subscriptions),
            },
            request_id,
        )

    def close(self) -> None:
        """Leave every channel; the hub releases NATS interest no one else holds."""
        for key in list(self.memberships):
            self._leave(key)
        self.outbox.clear()
        self.notices.cancel()
