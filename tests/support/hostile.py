"""Hypothesis strategies for hostile client frames (tests/test_hostile_input.py).

Cheap draws on purpose: one level of JSON containers in generated objects, while deep
nesting, huge numbers and long strings come from raw-text templates.
"""

from __future__ import annotations

import json
import re

from hypothesis import strategies as st

from schemas import DataType

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ", "688981.SH", "430047.BJ"]
INJECTIONS = [
    "../", "../../etc/passwd", "..", "$JS.API.>", "$JS.API.STREAM.DELETE.MD_QUOTE", "md.quote.>",
    "md.>", "*", ">", "*.*", "*.SH.>", "*.SH\n", "600000.SH\n", "600000.SH\x00", "\x00",
    "600000.SH.>", "600000.*", " 600000.SH", "600000.sh", "_INBOX.>", "$KV.md_symbols.>",
    "*.SH\r\nPUB md.> 1\r\nx", "600000.SH\u2028", "%2e%2e%2f", "${jndi:ldap://x}",
    "'; DROP TABLE symbols;--", "<script>alert(1)</script>", "\u202e600000.SH", "😀", "*.XX",
    "", " ", "600000.SH ", "６００００0.SH", "600000.SH;md.>",
]  # fmt: skip
TYPES = [
    "subscribe", "unsubscribe", "modify", "list_subscriptions", "ack", "ping", "auth", "pong",
    "status", "batch", "error", "market_data", "SUBSCRIBE", "", "subscribe\x00",
]  # fmt: skip
MAX_TEXT_BYTES = 60_000  # under max_frame_bytes: oversized frames are a separate test (1008)
# What may ever reach a consumer filter: a market-data subject of ASCII digits, or a stream.
VALID_FILTER = re.compile(
    r"md\.(quote|trade|depth)\.([0-9]{6}|\*)\.(SH|SZ|BJ)|md\.kline\.(1m|5m|15m|30m|60m|1d)\."
    r"([0-9]{6}|\*)\.(SH|SZ|BJ)|md\.(quote|kline|trade|depth)\.>"
)

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(INJECTIONS),
    st.sampled_from(SYMBOLS),
)
# One level of containers here; deep nesting comes from the raw texts below (cheaper to make).
value = st.one_of(
    leaf, st.lists(leaf, max_size=3), st.dictionaries(st.text(max_size=5), leaf, max_size=3)
)
symbol = st.one_of(st.sampled_from(SYMBOLS), st.sampled_from(INJECTIONS), leaf)
subscription_id = st.one_of(
    st.sampled_from(["quote:600000.SH:tick", "kline:000001.SZ:1m", "quote:*.SH:1s"]), leaf
)
subscribe = st.fixed_dictionaries(
    {},
    optional={
        "symbol": symbol,
        "symbols": st.one_of(st.lists(symbol, max_size=4), value),
        "data_type": st.one_of(st.sampled_from([t.value for t in DataType]), leaf),
        "frequency": st.one_of(
            st.sampled_from(["tick", "1s", "500ms", "1m", "5m", "0ms", "99999s", "2h"]), leaf
        ),
        "filters": st.one_of(st.fixed_dictionaries({"fields": st.lists(leaf, max_size=3)}), value),
        "snapshot": leaf,
        "resume_from": st.one_of(st.fixed_dictionaries({"seq": leaf, "epoch": leaf}), value),
        "ack": leaf,
        "durable": leaf,
        "batch": leaf,
        "surprise": value,
    },
)
unsubscribe = st.fixed_dictionaries(
    {},
    optional={
        "subscription_ids": st.one_of(st.lists(subscription_id, max_size=4), value),
        "symbols": st.one_of(st.lists(symbol, max_size=4), value),
        "data_type": leaf,
    },
)
modify = st.fixed_dictionaries(
    {}, optional={"subscription_id": subscription_id, "frequency": leaf, "filters": value}
)
others = st.fixed_dictionaries(
    {}, optional={"subscription_id": subscription_id, "seq": leaf, "token": leaf}
)
frame_object = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(TYPES), leaf)},
    optional={
        "id": leaf,
        "data": st.one_of(subscribe, unsubscribe, modify, others, value),
        "batch": leaf,
    },
)
# Frames that pass the envelope and field checks, so per-symbol and per-subscription paths run.
symbol_text = st.one_of(
    st.sampled_from([*SYMBOLS, "*.SH", "*.SZ", "*.BJ"]),
    st.sampled_from(INJECTIONS),
    st.text(max_size=12),
)
plausible = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("subscribe"),
            "id": leaf,
            "data": st.fixed_dictionaries(
                {
                    "symbols": st.lists(symbol_text, min_size=1, max_size=5),
                    "data_type": st.sampled_from([t.value for t in DataType]),
                    "snapshot": st.booleans(),
                },
                optional={"frequency": st.sampled_from(["tick", "1s", "1m", "5m", "500ms"])},
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("unsubscribe"),
            "data": st.fixed_dictionaries({"symbols": st.lists(symbol_text, max_size=5)}),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("modify"),
            "data": st.fixed_dictionaries(
                {
                    "subscription_id": st.sampled_from(
                        ["quote:600000.SH:tick", "quote:*.SH:tick", "depth:430047.BJ:1s"]
                    ),
                    "frequency": st.sampled_from(["tick", "1s", "250ms", "7s", "1m"]),
                }
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["ping", "list_subscriptions", "auth", "ack"]),
            "id": leaf,
            "data": st.dictionaries(st.sampled_from(["token", "seq", "x"]), leaf, max_size=2),
        }
    ),
)
NUMBERS = ["1e999", "-1e999", "1" * 400, "0." + "0" * 400 + "1", "-0", "9223372036854775808",
           "NaN", "Infinity", "-Infinity", "0x10", "1_000", "+1", ".5", "01"]  # fmt: skip
CHUNKS = ["A", "\\u0000", "é", "\\ud800", ".", '\\"', "\\\\"]  # JSON escapes, repeated


def nested(n: int) -> str:
    return '{"type":"ping","data":' + '{"a":' * n + "1" + "}" * n + "}"


def long_symbol(count_chunk: tuple[int, str]) -> str:
    return '{"type":"subscribe","data":{"symbol":"' + count_chunk[1] * count_chunk[0] + '"}}'


raw_text = st.one_of(
    st.text(max_size=300),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 2000).map(nested),
    st.sampled_from(NUMBERS).map(lambda n: '{"type":"ping","id":' + n + ',"data":{"n":' + n + "}}"),
    st.tuples(st.integers(0, 9000), st.sampled_from(CHUNKS)).map(long_symbol),
    st.integers(400, 3000).map(
        lambda n: json.dumps({"type": "subscribe", "data": {"symbols": ["600000.SH"] * n}})
    ),
    st.integers(400, 3000).map(
        lambda n: json.dumps({"type": "unsubscribe", "data": {"subscription_ids": ["x"] * n}})
    ),
    st.sampled_from(
        [
            '{"type":"ping"}\x00',
            "",
            "null",
            "\ufeff{}",
            "{}",
            '{"type":null}',
            '{"type":"ping","type":"subscribe"}',
            '{"type":"subscribe","data":[]}',
        ]
    ),
)
item = st.one_of(
    plausible.map(json.dumps),
    frame_object.map(lambda f: json.dumps(f, ensure_ascii=False)),
    frame_object.map(json.dumps),
    raw_text,
    st.binary(max_size=200),
).filter(lambda x: len(x if isinstance(x, bytes) else x.encode()) <= MAX_TEXT_BYTES)
