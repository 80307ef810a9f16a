"""Bridge settings: one frozen object per process, from ``MDBRIDGE_*`` env (CLI flags override)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.natsconf import NatsOptions


class BridgeSettings(NatsOptions, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8000, ge=0, le=65535, description="listen port")
    ws_impl: Literal["websockets-sansio", "websockets", "wsproto"] = Field(
        default="websockets-sansio", description="uvicorn WebSocket implementation"
    )
    heartbeat_interval_s: float = Field(default=15.0, gt=0, description="status heartbeat period")
    max_subscriptions: int = Field(default=500, ge=1, description="per connection")
    max_frame_bytes: int = Field(default=65_536, ge=1024, description="largest client frame")
    queue_max_bytes: int = Field(
        default=4 * 1024 * 1024, ge=4096, description="per-connection send queue bound"
    )
    batch_max_messages: int = Field(default=256, ge=1, description="messages per batch frame")
    snapshot_concurrency: int = Field(default=32, ge=1, description="parallel last-value fetches")
    max_filter_subjects: int = Field(
        default=256,
        ge=1,
        description="past this many subjects a stream's shared consumer takes the whole stream",
    )
    interest_debounce_s: float = Field(
        default=0.01, ge=0, description="interest changes within this window share one update"
    )
    startup_timeout_s: float = Field(
        default=120.0, gt=0, description="how long to wait for the streams at start"
    )
    source_timeout_s: float = Field(
        default=5.0, gt=0, description="a source silent this long is reported down"
    )
