"""Settings of the data-quality monitor: one frozen object from ``MDBRIDGE_*``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from processkit.natsconf import NatsOptions
from processkit.settings import ProcessSettings
from services.settings import CalendarOptions


class QualitySettings(NatsOptions, CalendarOptions, ProcessSettings):
    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    quality_stale_after_s: float = Field(
        default=60.0, gt=0, description="a symbol without a quote this long while trading is stale"
    )
    quality_source_silent_s: float = Field(
        default=5.0, gt=0, description="a source without a heartbeat (or data) this long is silent"
    )
    quality_report_interval_s: float = Field(
        default=2.0, gt=0, le=300, description="how often the report is written"
    )
    quality_max_findings_per_s: int = Field(
        default=200, ge=1, description="findings published per second at most (the rest counted)"
    )
