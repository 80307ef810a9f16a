"""``/docs/protocol``: one self-contained page rendered from the OpenAPI document and the
message catalog: every endpoint, problem type (``/docs#problem-X`` lands here), WebSocket
message and schema. No script and no CDN; the interactive reference is ``/docs``.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from bridge.rest.problems import PROBLEMS
from schemas.catalog import MESSAGES

STYLE = """
body{max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222;font:15px/1.5 system-ui,
"Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
h1,h2,h3{line-height:1.2} h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
code,.mono{font-family:ui-monospace,monospace;font-size:.92em}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem} th{text-align:left}
td,th{border-bottom:1px solid #eee;padding:.3rem .5rem;vertical-align:top}
.op{border:1px solid #ddd;border-radius:6px;padding:.2rem 1rem 1rem;margin:1rem 0}
.get{background:#e7f3ff;color:#0b5394;border-radius:4px;padding:.1rem .4rem;font-weight:600}
a{color:#0b5394} .muted{color:#666}
"""


_CODE = re.compile(r"``([^`]+)``|`([^`]+)`")  # reST's double or Markdown's single backticks


def prose(text: str) -> str:
    """Escape ``text`` and turn its backtick-quoted code into ``<code>``."""
    return _CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escape(text))


def _type(schema: dict[str, Any]) -> str:
    """A short, linked rendering of a JSON Schema's type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " | ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(str(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    fmt = f" ({schema['format']})" if "format" in schema else ""
    return escape(str(kind)) + fmt


def rows(table: list[list[str]], head: list[str]) -> str:
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in table)
    return f"<table><tr>{header}</tr>{body}</table>"


def _operation(path: str, op: dict[str, Any]) -> str:
    params = [
        [
            f"<code>{escape(p['name'])}</code>",
            escape(p["in"]) + (" (required)" if p.get("required") else ""),
            _type(p.get("schema", {})),
            prose(p.get("description", "")),
        ]
        for p in op.get("parameters", [])
    ]
    responses = [
        [
            f"<code>{status}</code>",
            prose(r.get("description", "")),
            " ".join(_type(c["schema"]) for c in r.get("content", {}).values()),
        ]
        for status, r in op["responses"].items()
    ]
    return (
        f'<div class="op" id="op-{escape(op["operationId"])}">'
        f'<h3><span class="get">GET</span> <span class="mono">{escape(path)}</span></h3>'
        f"<p><b>{prose(op['summary'])}.</b> {prose(op.get('description', ''))}</p>"
        + (rows(params, ["parameter", "in", "type", "meaning"]) if params else "")
        + rows(responses, ["status", "meaning", "body"])
        + "</div>"
    )


def schema_section(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    props = [
        [
            f"<code>{escape(prop)}</code>"
            + ("" if prop in required else " <span class=muted>?</span>"),
            _type(spec),
            prose(spec.get("description", "")),
        ]
        for prop, spec in schema.get("properties", {}).items()
    ]
    doc = prose(schema.get("description", ""))
    inner = rows(props, ["field", "type", "meaning"]) if props else f"<p>{_type(schema)}</p>"
    return f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><p>{doc}</p>{inner}'


def render(openapi: dict[str, Any], base: str) -> str:
    info = openapi["info"]
    ops = "".join(
        _operation(path, item["get"]) for path, item in openapi["paths"].items() if "get" in item
    )
    problems = rows(
        [
            [f'<code id="problem-{code.value}">{code.value}</code>', str(status), prose(text)]
            for code, (status, text) in PROBLEMS.items()
        ],
        ["code", "HTTP status", "meaning"],
    )
    ws = rows(
        [
            [f"<code>{spec.kind.value}</code>", spec.direction, prose(spec.summary)]
            for spec in MESSAGES
        ],
        ["type", "sent by", "meaning"],
    )
    schemas = "".join(schema_section(n, s) for n, s in openapi["components"]["schemas"].items())
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<link rel="icon" href="{base}/favicon.ico" type="image/svg+xml">'
        f"<title>{escape(info['title'])}</title><style>{STYLE}</style></head><body>"
        f'<nav class=muted><a href="{base}/docs">interactive REST reference</a> · '
        f'<a href="{base}/docs/asyncapi">AsyncAPI (WebSocket and NATS)</a></nav>'
        f"<h1>{escape(info['title'])} <small class=muted>{escape(info['version'])}</small></h1>"
        f"<p>{prose(info['description'])}</p>"
        f'<p>Machine-readable: <a href="{base}/openapi.json">OpenAPI 3.1</a> · '
        f'<a href="{base}/asyncapi.json">AsyncAPI 3.0</a> (WebSocket and NATS)</p>'
        f"<h2>Endpoints</h2>{ops}"
        "<h2>Problem types</h2><p>Errors are <code>application/problem+json</code> (RFC 9457); "
        f"<code>code</code> is the same as on the WebSocket.</p>{problems}"
        f"<h2>WebSocket messages</h2><p>On <code>{base}/ws</code>; payload schemas in "
        f'<a href="{base}/asyncapi.json">the AsyncAPI document</a>.</p>{ws}'
        f"<h2>Schemas</h2>{schemas}</body></html>"
    )
