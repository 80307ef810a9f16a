from __future__ import annotations

import nats
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import KLINE_PERIODS, STREAM_BY_TYPE, SYMBOLS_BUCKET
from schemas.history import history_stream
from schemas.streams import default_stream_specs
from services.provision import StreamPolicy, differences, ensure_streams, stream_config


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


async def test_a_provisioned_stream_has_nothing_to_update(nc: NatsClient) -> None:
    """So an adapter, which may not update streams, never needs to on a steady deployment."""
    js = nc.jetstream()
    await ensure_streams(js)
    for spec in default_stream_specs():
        info = await js.stream_info(spec.name)
        assert differences(info.config, stream_config(spec, StreamPolicy())) == [], spec.name
    info = await js.stream_info("MD_QUOTE")
    wanted = stream_config(default_stream_specs()[0], StreamPolicy(max_age_s=60))
    assert differences(info.config, wanted) == ["max_age"]
