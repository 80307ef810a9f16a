from __future__ import annotations

import nats
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import KLINE_PERIODS, STREAM_BY_TYPE, SYMBOLS_BUCKET
from schemas.history import history_stream
from services.provision import StreamPolicy, ensure_streams


async def test_provisioning_is_idempotent_and_keeps_the_epoch(nc: NatsClient) -> None:
    js = nc.jetstream()
    first = await ensure_streams(js)
    second = await ensure_streams(js, StreamPolicy(max_age_s=3600))
    history = {history_stream(period) for period in KLINE_PERIODS}
    assert set(first) == {*STREAM_BY_TYPE.values(), "MD_STATUS", *history}
    assert first == second, "updating a stream must not recreate it (epoch changes)"
    assert all(first.values())
    info = await js.stream_info("MD_QUOTE")
    assert info.config.max_age == 3600
    assert info.config.allow_direct is True
    await js.key_value(SYMBOLS_BUCKET)


async def test_duplicate_msg_id_is_dropped_by_the_broker(fresh_nats_server: NatsServer) -> None:
    client = await nats.connect(fresh_nats_server.url)
    js = client.jetstream()
    await ensure_streams(js)
    headers = {"Nats-Msg-Id": "quote:600000.SH:1"}
    first = await js.publish("md.quote.600000.SH", b"{}", headers=headers)
    again = await js.publish("md.quote.600000.SH", b"{}", headers=headers)
    assert again.duplicate is True
    assert again.seq == first.seq
    await client.close()
