"""Data-source adapters and the runtime that publishes their data into NATS JetStream."""

from __future__ import annotations

from services.kline import KLineAggregator, KLineEvent
from services.runner import ADAPTERS, load_adapter, run_adapter
from services.settings import AdapterSettings

__all__ = [
    "ADAPTERS",
    "AdapterSettings",
    "KLineAggregator",
    "KLineEvent",
    "load_adapter",
    "run_adapter",
]
