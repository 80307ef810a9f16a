"""What a session needs for the guarantees beyond live fan-out: resume, ack mode, source health,
bar history.

Built by the runtime and handed to each session; a session without it (None) answers resume
and ack requests with ``UNSUPPORTED``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.market.sources import SourceHealth
from bridge.recovery.ackmode import AckConsumers
from bridge.recovery.barhistory import BarHistory
from bridge.recovery.catchup import Replayer


@dataclass(frozen=True, slots=True)
class Reliability:
    replayer: Replayer
    acks: AckConsumers
    sources: SourceHealth
    history: BarHistory
