"""Keeping tokens out of the logs: uvicorn logs each handshake's path with its query string.

A ``?token=<JWT>`` would otherwise be written at INFO on every connection. Every log record
(any logger: :func:`install_redaction` wraps the record factory) has its message and
arguments rewritten before it is emitted: the value of any query parameter whose *decoded*
name is a token name (``%74oken``, ``TOKEN``, ``+token``...), anything shaped like a JWT,
also when it is percent-encoded, and ``Bearer`` credentials.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "<redacted>"
SECRET_PARAMS = frozenset({"token", "access_token", "jwt", "auth", "authorization"})
_PARAM = re.compile(r"(?P<lead>[?&;]|^)(?P<key>[^=&?;\s\"'#]+)=(?P<value>[^&;\s\"'#]*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_WORD = re.compile(r"[^\s\"'&?;=]+")  # linear: no pattern here may backtrack on a long line
_BEARER = re.compile(r"(bearer[ .])[A-Za-z0-9_.~+/=%-]{8,}", re.IGNORECASE)
REDACTED_LOGGERS = ("uvicorn.error", "uvicorn.access", "uvicorn")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter name, however it is encoded, names a credential."""
    return unquote_plus(name).strip().lower() in SECRET_PARAMS


def _param(match: re.Match[str]) -> str:
    if is_secret_param(match["key"]):
        return f"{match['lead']}{match['key']}={REDACTED}"
    return match[0]


def _encoded(match: re.Match[str]) -> str:
    word = match[0]
    return REDACTED if "%" in word and _JWT.search(unquote_plus(word)) else word


def redact(text: str) -> str:
    if "=" in text:
        text = _PARAM.sub(_param, text)
    if "%" in text:
        text = _WORD.sub(_encoded, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    return _JWT.sub(REDACTED, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class TokenRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _clean(arg) for key, arg in record.args.items()}


class _RedactingFactory:
    """Wraps the record factory: every logger's records are redacted as they are made."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        _redact_record(record)
        return record


def install_redaction() -> None:
    """Redact every record from now on (once; safe to call again)."""
    if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))
    for name in REDACTED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in target.filters):
            target.addFilter(TokenRedactingFilter())
