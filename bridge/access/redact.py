"""Keeping tokens out of the logs: uvicorn logs each handshake's path with its query string.

A ``?token=<JWT>`` would otherwise be written at INFO on every connection. The filter
rewrites ``token=`` query values and anything shaped like a JWT before a record is emitted.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "<redacted>"
_QUERY_TOKEN = re.compile(r"((?:[?&;]|^)(?:access_)?token=)[^&\s\"']*", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(bearer[ .])[A-Za-z0-9_.~+/=-]{8,}", re.IGNORECASE)
REDACTED_LOGGERS = ("uvicorn.error", "uvicorn.access", "uvicorn")


def redact(text: str) -> str:
    text = _QUERY_TOKEN.sub(r"\1" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    return _JWT.sub(REDACTED, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class TokenRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(arg) for key, arg in record.args.items()}
        return True


def install_redaction() -> None:
    """Attach the filter to the server's loggers (once; safe to call again)."""
    for name in REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in target.filters):
            target.addFilter(TokenRedactingFilter())
