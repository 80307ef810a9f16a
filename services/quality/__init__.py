"""The data-quality monitor: per-symbol checks of every published quote, source health, and a
report for the admin API (KV ``md_quality``/``report``, ``md.status.quality.*``)."""

from __future__ import annotations

from services.quality.monitor import QualityMonitor, run_monitor
from services.quality.settings import QualitySettings

__all__ = ["QualityMonitor", "QualitySettings", "run_monitor"]
