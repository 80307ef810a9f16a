"""``/docs/asyncapi``: the AsyncAPI document laid out for people (server-side, no script).

Channels (the WebSocket and the NATS subjects), the operations on each (who sends what), and
every message with its payload schema, linked; the JSON is at ``/asyncapi.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from bridge.pages.docs import STYLE, prose, rows, schema_section


def _ref_name(ref: dict[str, Any]) -> str:
    return str(ref.get("$ref", "")).rsplit("/", 1)[-1]


def _message_link(name: str) -> str:
    return f'<a href="#message-{escape(name)}">{escape(name)}</a>'


def _channels(doc: dict[str, Any]) -> str:
    out = []
    for key, channel in doc["channels"].items():
        by_channel = [
            [
                "client → server" if op["action"] == "receive" else "server → client",
                ", ".join(_message_link(_ref_name(m)) for m in op.get("messages", [])),
                prose(op.get("summary", "")),
            ]
            for op in doc["operations"].values()
            if _ref_name(op["channel"]) == key
        ]
        messages = channel.get("messages", {}).values()
        listed = ", ".join(_message_link(_ref_name(m)) for m in messages)
        out.append(
            f'<div class="op" id="channel-{escape(key)}"><h3><span class="mono">'
            f"{escape(channel.get('address') or key)}</span> "
            f"<small class=muted>{escape(channel.get('title', ''))}</small></h3>"
            f"<p>{prose(channel.get('description', ''))}</p>"
            + (rows(by_channel, ["direction", "message", "what"]) if by_channel else "")
            + (f"<p>Messages: {listed}</p>" if not by_channel and listed else "")
            + "</div>"
        )
    return "".join(out)


def _messages(doc: dict[str, Any]) -> str:
    out = []
    for name, message in doc["components"]["messages"].items():
        payload = _ref_name(message.get("payload", {}))
        link = f'<a href="#schema-{escape(payload)}">{escape(payload)}</a>' if payload else ""
        out.append(
            f'<tr id="message-{escape(name)}"><td><code>{escape(message.get("name", name))}</code>'
            f"</td><td>{prose(message.get('summary', ''))}</td><td>{link}</td></tr>"
        )
    return "<table><tr><th>message</th><th>meaning</th><th>payload</th></tr>" + "".join(out)


def render_asyncapi(doc: dict[str, Any], base: str) -> str:
    info = doc["info"]
    servers = rows(
        [
            [f"<code>{escape(s['protocol'])}://{escape(s['host'])}</code>", prose(s["description"])]
            for s in doc.get("servers", {}).values()
        ],
        ["server", "what"],
    )
    schemas = "".join(schema_section(n, s) for n, s in doc["components"]["schemas"].items())
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<link rel="icon" href="{base}/favicon.ico" type="image/svg+xml">'
        f"<title>{escape(info['title'])} · AsyncAPI</title><style>{STYLE}</style></head><body>"
        f'<nav class=muted><a href="{base}/docs">REST reference</a> · '
        f'<a href="{base}/docs/protocol">protocol overview</a> · '
        f'<a href="{base}/asyncapi.json">asyncapi.json</a></nav>'
        f"<h1>{escape(info['title'])} <small class=muted>AsyncAPI {escape(doc['asyncapi'])}"
        f" · {escape(info['version'])}</small></h1><p>{prose(info.get('description', ''))}</p>"
        f"<h2>Servers</h2>{servers}<h2>Channels</h2>{_channels(doc)}"
        f"<h2>Messages</h2>{_messages(doc)}<h2>Schemas</h2>{schemas}</body></html>"
    )
