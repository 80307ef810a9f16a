"""One logging setup for every mdbridge process: JSON lines on stdout."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
from pydantic import Field, field_validator

from processkit.settings import ProcessSettings
from schemas import logctx
from schemas.logctx import CONTEXT_FIELDS
from schemas.timefmt import epoch_ms_to_iso

# Structured payloads a log call may attach with ``extra=`` (e.g. the REST access log's
# ``http`` and an alert's ``alert``); each becomes one nested JSON object.
PAYLOAD_FIELDS = ("http", "alert")

__all__ = ["CONTEXT_FIELDS", "ContextFilter", "JsonFormatter", "configure_logging"]


class ContextFilter(logging.Filter):
    """Copies the bound log context onto each record, in the thread and task that logs it.

    On the handler, so it sees records from every logger; fields passed with ``extra=`` win.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in logctx.current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogSettings(ProcessSettings):
    """Logging, the same for every process (JSON lines on stdout)."""

    log_level: str = Field(default="INFO", description=f"one of {', '.join(LEVELS)}")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
        return value.upper()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": epoch_ms_to_iso(record.created * 1000),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for name in PAYLOAD_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).handlers[:] = []
        logging.getLogger(noisy).propagate = True
