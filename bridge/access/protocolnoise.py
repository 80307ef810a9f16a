"""Hostile frames are the client's fault: log them once per connection, at WARNING, briefly.

uvicorn's sans-I/O WebSocket protocol logs every text frame that is not valid UTF-8 with
``logger.exception`` (ERROR and a traceback) before it closes the connection with 1007;
a client reconnecting in a loop can fill the logs that way. The filter rewrites that record
into one WARNING line without the traceback. The connection closes at its first bad frame,
so it is logged once per connection.
"""

from __future__ import annotations

import logging

INVALID_UTF8 = "Invalid UTF-8 sequence received from client."
UVICORN_LOGGER = "uvicorn.error"


class ProtocolNoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == INVALID_UTF8:
            error = record.exc_info[1] if record.exc_info else None
            record.msg = "closed a connection with 1007: invalid UTF-8 in a text frame (%s)"
            record.args = (error,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def install_protocol_noise_filter() -> None:
    """Attach the filter to uvicorn's logger (once; safe to call again)."""
    target = logging.getLogger(UVICORN_LOGGER)
    if not any(isinstance(f, ProtocolNoiseFilter) for f in target.filters):
        target.addFilter(ProtocolNoiseFilter())
