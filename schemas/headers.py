"""NATS message headers the adapters set and the bridge and ``mdbridge trace`` read.

``traceparent`` is W3C Trace Context (``00-<trace id>-<parent id>-<flags>``); the two
``Mdb-*`` headers are hop times in epoch milliseconds, so one message can be followed from
the source to the socket.
"""

from __future__ import annotations

TRACEPARENT = "traceparent"
RECV_MS = "Mdb-Recv-Ms"  # when the adapter received the data from its source
PUB_MS = "Mdb-Pub-Ms"  # when the adapter handed the message to NATS
