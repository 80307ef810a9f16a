"""The sample least-privilege nats-server config, run for real: who may publish, who may read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy
from nats.js.errors import APIError

from mdbridge.natsserver import NatsServer, free_port
from schemas import STATUS_STREAM, STREAM_BY_TYPE, SYMBOLS_BUCKET, DataType
from services.provision import StreamPolicy, ensure_streams
from services.quality import QualitySettings, run_monitor
from tests.support.adapters import eventually
from tests.support.market import payload_for, publish, put_directory, quote
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

CONFIG = Path(__file__).resolve().parents[1] / "helm/mdbridge/files/nats/least-privilege.conf"
PASSWORDS = {
    "adapter": "adapter-pw-1",
    "bridge": "bridge-pw-2",
    "reader": "reader-pw-3",
    "quality": "quality-pw-4",
    "admin": "admin-pw-5",
}
SYMBOL = "600000.SH"
SUBJECT = f"md.quote.{SYMBOL}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    store = tmp_path_factory.mktemp("secured")
    with pytest.MonkeyPatch.context() as env:  # the config reads its passwords from the env
        for user, password in PASSWORDS.items():
            env.setenv(f"MDBRIDGE_NATS_{user.upper()}_PASSWORD", password)
        server = NatsServer(
            store_dir=store, port=free_port(), config_file=CONFIG, log_file=store / "nats.log"
        ).start()
    yield server
    server.stop()


class Violations:
    """The asynchronous ``-ERR Permissions Violation`` notices of one connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, exc: Exception) -> None:
        self.seen.append(str(exc))

    async def wait_for(self, needle: str) -> str:
        for _ in range(200):
            for text in self.seen:
                if needle.lower() in text.lower():
                    return text
            await asyncio.sleep(0.01)
        raise AssertionError(f"no violation mentioning {needle!r}: {self.seen}")


async def connect(
    server: NatsServer, user: str, violations: Violations | None = None
) -> NatsClient:
    return await nats.connect(
        server.url,
        user=user,
        password=PASSWORDS[user],
        error_cb=(violations or Violations()).record,
        allow_reconnect=False,
        inbox_prefix=f"_INBOX_{user}",  # as mdbridge connects (MDBRIDGE_NATS_INBOX_PREFIX)
    )


@pytest.fixture(scope="module")
async def adapter(secured: NatsServer) -> AsyncIterator[NatsClient]:
    client = await connect(secured, "adapter")
    js = client.jetstream()
    await ensure_streams(js)  # provisioning is the adapter's job
    await put_directory(js, [SYMBOL])
    yield client
    await client.drain()


async def test_adapter_publishes_and_provisions(adapter: NatsClient) -> None:
    js = adapter.jetstream()
    seq = await publish(js, DataType.QUOTE, SYMBOL, 10.1)
    assert seq >= 1
    assert (await js.stream_info("MD_QUOTE")).state.last_seq == seq


async def test_adapter_may_not_read_market_data(secured: NatsServer, adapter: NatsClient) -> None:
    violations = Violations()
    client = await connect(secured, "adapter", violations)
    await client.subscribe("md.>")
    await violations.wait_for('Subscription to "md.>"')
    await client.close()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_reader_cannot_publish_but_reads(secured: NatsServer, adapter: NatsClient) -> None:
    ajs = adapter.jetstream()
    before = (await ajs.stream_info("MD_QUOTE")).state.last_seq
    violations = Violations()
    reader = await connect(secured, "reader", violations)
    body = orjson.dumps(payload_for(DataType.QUOTE, SYMBOL, 66.6))
    await reader.publish("md.quote.600000.SH", body)
    await reader.flush()
    await violations.wait_for('Publish to "md.quote.600000.SH"')
    rjs = reader.jetstream(timeout=1.0)  # refused requests simply get no answer
    directory = await rjs.key_value("md_symbols")
    refused = await asyncio.gather(
        rjs.publish("md.quote.600000.SH", body),
        directory.put(SYMBOL, b"{}"),
        rjs.delete_stream("MD_QUOTE"),
        return_exceptions=True,
    )
    assert all(isinstance(r, NatsError | APIError) for r in refused), refused
    assert (await ajs.stream_info("MD_QUOTE")).state.last_seq == before  # nothing got in
    # reading is allowed: the directory, the last value, an ordered consumer, core subjects
    entry = await directory.get(SYMBOL)
    assert orjson.loads(entry.value or b"{}")["symbol"] == SYMBOL
    last = await rjs.get_last_msg("MD_QUOTE", "md.quote.600000.SH", direct=True)
    assert last.seq == before
    sub = await rjs.subscribe("md.quote.600000.SH", ordered_consumer=True)
    seq = await publish(ajs, DataType.QUOTE, SYMBOL, 10.2)
    streamed = [(await sub.next_msg(timeout=5)).metadata.sequence.stream for _ in range(seq)]
    assert streamed == list(range(1, seq + 1))  # the whole history, in order
    await reader.close()


async def test_bridge_creates_its_consumers_and_reads(
    secured: NatsServer, adapter: NatsClient
) -> None:
    ajs = adapter.jetstream()
    snapshot_seq = await publish(ajs, DataType.QUOTE, SYMBOL, 10.3)
    credentials = {"nats_user": "bridge", "nats_password": PASSWORDS["bridge"]}
    async with running_bridge(secured.url, **credentials) as bridge:
        client = await WsClient.open(bridge.ws_url)
        reply = await client.request("subscribe", {"symbol": SYMBOL})
        assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
        snapshot = await client.data()
        assert snapshot["metadata"]["seq"] == snapshot_seq  # direct get
        live = await publish(ajs, DataType.QUOTE, SYMBOL, 10.4)
        assert (await client.data())["metadata"]["seq"] == live  # its ordered consumer
        await client.close()
    violations = Violations()
    as_bridge = await connect(secured, "bridge", violations)
    await as_bridge.publish("md.quote.600000.SH", b"{}")
    await as_bridge.flush()
    await violations.wait_for('Publish to "md.quote.600000.SH"')
    info = await ajs.stream_info("MD_QUOTE")
    info.config.max_msgs_per_subject = 1
    with pytest.raises(NatsError):
        await as_bridge.jetstream(timeout=1.0).update_stream(info.config)
    await violations.wait_for('"$JS.API.STREAM.UPDATE.MD_QUOTE"')
    await as_bridge.close()


async def test_wrong_password_is_refused(secured: NatsServer) -> None:
    with pytest.raises(NatsError):
        await nats.connect(
            secured.url,
            user="reader",
            password="wrong",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=2,
        )


def test_the_config_names_every_stream() -> None:
    text = CONFIG.read_text()
    for stream in [*STREAM_BY_TYPE.values(), STATUS_STREAM, f"KV_{SYMBOLS_BUCKET}"]:
        assert f"$JS.API.STREAM.INFO.{stream}" in text, stream


# -- the quality monitor's user, and symbol status events through a bridge logged in as bridge --


async def test_the_quality_monitor_runs_as_quality_and_the_bridge_reads_its_report(
    secured: NatsServer,
) -> None:
    adapter: NatsClient = await connect(secured, "adapter")
    settings = QualitySettings(
        nats_url=secured.url,
        nats_user="quality",
        nats_password=PASSWORDS["quality"],
        calendar="always_open",
        quality_report_interval_s=0.2,
    )
    stop = asyncio.Event()
    monitor = asyncio.create_task(run_monitor(settings, stop))
    bridge_nc = await connect(secured, "bridge")
    try:
        kv = await eventually(lambda: _bucket(bridge_nc), timeout=15)
        ajs = adapter.jetstream()
        crossed = quote(SYMBOL, 10.0) | {"bid_price": 10.2, "ask_price": 10.1, "source": "p"}
        await ajs.publish(f"md.quote.{SYMBOL}", orjson.dumps(crossed))
        report = await eventually(lambda: _report(kv), timeout=15)
        assert report["counts"] == {"crossed_book": 1}
    finally:
        stop.set()
        await asyncio.wait_for(monitor, 10)
        await bridge_nc.close()
        await adapter.close()


async def test_the_bridge_forwards_symbol_status_as_bridge(secured: NatsServer) -> None:
    adapter: NatsClient = await connect(secured, "adapter")
    credentials = {"nats_user": "bridge", "nats_password": PASSWORDS["bridge"]}
    try:
        async with running_bridge(secured.url, **credentials) as bridge:
            client = await WsClient.open(bridge.ws_url)
            reply = await client.request("subscribe", {"symbol": SYMBOL, "snapshot": False})
            assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
            event = {
                "event": "halted",
                "symbol": SYMBOL,
                "timestamp": "2026-11-20T10:00:00.000+08:00",
                "phase": "halted",
                "last_price": 10.0,
                "limit_up": 11.0,
                "limit_down": 9.0,
                "source": "p",
            }
            await adapter.jetstream().publish(f"md.status.symbol.{SYMBOL}", orjson.dumps(event))
            frame = await client.wait_for(lambda f: f["data"].get("event") == "halted")
            assert frame["data"] == event
            await client.close()
    finally:
        await adapter.close()


async def _bucket(nc: NatsClient) -> object:
    try:
        return await nc.jetstream().key_value("md_quality")
    except Exception:
        return None


async def _report(kv: object) -> dict[str, object] | None:
    try:
        entry = await kv.get("report")  # type: ignore[attr-defined]
    except Exception:
        return None
    report = orjson.loads(entry.value)
    return report if report["counts"] else None


# -- issue 14, finding 5: what the shipped users may not do to each other ------------------


async def test_reader_cannot_see_others_inboxes_nor_touch_their_consumers(
    secured: NatsServer, adapter: NatsClient
) -> None:
    ajs = adapter.jetstream()
    credentials = {"nats_user": "bridge", "nats_password": PASSWORDS["bridge"]}
    async with running_bridge(secured.url, **credentials) as bridge:
        assert bridge.runtime.nc._inbox_prefix == b"_INBOX_bridge"  # derived from the user
        client = await WsClient.open(bridge.ws_url)
        request = {"symbol": SYMBOL, "ack": True, "durable": "orders", "snapshot": False}
        reply = await client.request("subscribe", request)
        result = reply["data"]["subscriptions"][0]
        assert result["status"] == "subscribed"
        durable, key = result["consumer"], result["subscription_id"]
        first = await publish(ajs, DataType.QUOTE, SYMBOL, 10.5)
        assert (await client.data())["metadata"]["seq"] == first

        violations = Violations()
        reader = await connect(secured, "reader", violations)
        for wildcard in ("_INBOX.>", "_INBOX_bridge.>", ">"):
            await reader.subscribe(wildcard)
            await violations.wait_for(f'Subscription to "{wildcard}"')
        ack_subject = f"$JS.ACK.MD_QUOTE.{durable}.1.{first}.1.0.0"
        await reader.publish(ack_subject, b"+ACK")
        await violations.wait_for(f'Publish to "{ack_subject}"')
        rjs = reader.jetstream(timeout=1.0)
        refused = await asyncio.gather(
            rjs.delete_consumer("MD_QUOTE", durable),
            rjs.add_consumer("MD_QUOTE", durable_name="reader_own", ack_policy=AckPolicy.EXPLICIT),
            return_exceptions=True,
        )
        assert all(isinstance(r, NatsError | APIError) for r in refused), refused
        await violations.wait_for(f'"$JS.API.CONSUMER.DELETE.MD_QUOTE.{durable}"')
        pull = await rjs.pull_subscribe(SUBJECT, durable=durable, stream="MD_QUOTE")
        with pytest.raises(NatsError):  # its deliveries are not the reader's to take
            await pull.fetch(1, timeout=1.0)
        await violations.wait_for(f'"$JS.API.CONSUMER.MSG.NEXT.MD_QUOTE.{durable}"')
        operator = await connect(secured, "admin")
        info = await operator.jetstream().consumer_info("MD_QUOTE", durable)  # still there
        await operator.close()
        # The owner is unharmed: the message the reader tried to ack is still unacked...
        assert info.num_ack_pending == 1
        await client.send("ack", {"subscription_id": key, "seq": first})
        second = await publish(ajs, DataType.QUOTE, SYMBOL, 10.6)
        assert (await client.data())["metadata"]["seq"] == second
        # ...and the reader still reads, with an unnamed ordered consumer of its own.
        sub = await rjs.subscribe("md.quote.600000.SH", ordered_consumer=True)
        assert (await sub.next_msg(timeout=5)).subject == "md.quote.600000.SH"
        await reader.close()
        await client.request("unsubscribe", {"subscription_ids": [key]})
        await client.close()


async def test_adapter_cannot_update_or_delete_streams(
    secured: NatsServer, adapter: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    violations = Violations()
    hostile = await connect(secured, "adapter", violations)
    hjs = hostile.jetstream(timeout=1.0)
    before = await hjs.stream_info("MD_QUOTE")
    wiped = before.config
    wiped.max_msgs_per_subject = 1
    with pytest.raises(NatsError):
        await hjs.update_stream(wiped)
    await violations.wait_for('"$JS.API.STREAM.UPDATE.MD_QUOTE"')
    with pytest.raises(NatsError):
        await hjs.delete_stream("MD_QUOTE")
    await violations.wait_for('"$JS.API.STREAM.DELETE.MD_QUOTE"')
    after = await hjs.stream_info("MD_QUOTE")
    assert after.config.max_msgs_per_subject in (None, -1)
    assert after.state.messages == before.state.messages
    # Provisioning as the adapter with other limits warns instead of failing (or changing them).
    with caplog.at_level(logging.WARNING, logger="services.provision"):
        epochs = await ensure_streams(hostile.jetstream(), StreamPolicy(max_age_s=7200))
    assert set(epochs) >= set(STREAM_BY_TYPE.values())
    assert "may not update" in caplog.text
    assert (await hjs.stream_info("MD_QUOTE")).config.max_age != 7200
    await hostile.close()


async def test_quality_cannot_delete_others_consumers(
    secured: NatsServer, adapter: NatsClient
) -> None:
    admin = await connect(secured, "admin")
    await admin.jetstream().add_consumer("MD_QUOTE", durable_name="ops_keep")
    violations = Violations()
    quality = await connect(secured, "quality", violations)
    with pytest.raises(NatsError):
        await quality.jetstream(timeout=1.0).delete_consumer("MD_QUOTE", "ops_keep")
    await violations.wait_for('"$JS.API.CONSUMER.DELETE.MD_QUOTE.ops_keep"')
    assert (await admin.jetstream().consumer_info("MD_QUOTE", "ops_keep")).name == "ops_keep"
    await admin.jetstream().delete_consumer("MD_QUOTE", "ops_keep")
    await quality.close()
    await admin.close()


async def test_the_adapter_backfills_history_and_the_bridge_serves_it(
    secured: NatsServer, adapter: NatsClient
) -> None:
    import httpx

    from schemas.history import history_stream
    from services.calendar import TradingCalendar
    from services.history import backfill
    from services.history.simbars import day_start_ms, trading_days_before
    from services.publisher import Publisher
    from tests.support.records import bar

    ajs = adapter.jetstream()
    days = trading_days_before(date(2026, 12, 5), 3, TradingCalendar())
    bars = [
        (day_start_ms(d), bar(SYMBOL, day_start_ms(d), 10, closed=True, period="1d")) for d in days
    ]
    publisher = Publisher(ajs)
    first = await backfill(ajs, publisher, "1d", [(SYMBOL, bars)])
    again = await backfill(ajs, publisher, "1d", [(SYMBOL, bars)])  # reads what is stored
    assert (first.published, again.published, again.skipped) == (3, 0, 3)
    assert (await ajs.stream_info(history_stream("1d"))).state.messages == 3
    credentials = {"nats_user": "bridge", "nats_password": PASSWORDS["bridge"]}
    async with running_bridge(secured.url, **credentials) as bridge:
        async with httpx.AsyncClient(base_url=bridge.http_url, timeout=10) as http:
            answer = await http.get(f"/v1/klines/{SYMBOL}", params={"period": "1d"})
        assert answer.status_code == 200, answer.text
        assert [i["metadata"]["stream"] for i in answer.json()["items"]] == ["MD_BAR_1D"] * 3
        client = await WsClient.open(bridge.ws_url)
        request = {"symbol": SYMBOL, "data_type": "kline", "frequency": "1d", "history": 5}
        await client.request("subscribe", request)
        notice = await client.wait_for(lambda f: f["data"].get("mode") == "history")
        assert notice["data"]["replayed"] == 3
        await client.close()
