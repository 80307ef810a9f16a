"""Settings of an adapter process: one frozen object read from ``MDBRIDGE_*`` at the entry."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal

from nats.js.api import StorageType
from pydantic import BaseModel, BeforeValidator, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from processkit.natsconf import NatsOptions
from processkit.settings import ProcessSettings
from schemas import KLINE_PERIODS
from schemas.history import HistoryRetention
from services.provision import StreamPolicy

MAX_SIM_SYMBOLS = 6000  # the whole A-share market is ~5,400; the universe has room to spare
SPEED_RE = re.compile(r"^(max|\d+(\.\d+)?x)$")


def _split_list(value: object) -> object:
    """``"a,b"`` (how people write lists in env vars and flags) → ``("a", "b")``."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# A list that reads "600000.SH,000001.SZ" from the environment (or a JSON-free flag).
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_list)]


class CalendarOptions(BaseModel):
    """The trading calendar of xtquant, replay and the quality monitor (one key for all; the
    simulator has its own sim_session and sim_holidays)."""

    calendar: Literal["real", "always_open"] = Field(
        default="real",
        description="real: A-share sessions and holidays; always_open: every instant trades",
    )
    holidays: tuple[date, ...] = Field(
        default=(),
        description="exchange holidays, closed all day (JSON list of dates): overrides "
        "xtquant's and the chinese-calendar library's",
    )


class AdapterSettings(NatsOptions, CalendarOptions, ProcessSettings):
    """Everything a data-source adapter needs: NATS, stream policy, and the simulator's knobs."""

    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    source_id: str = Field(
        default="sim",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="id of this source: the status subject md.status.<source_id> and `source`",
    )
    sim_seed: int = Field(default=42, description="seed of the simulated universe and prices")
    sim_symbols: int = Field(
        default=300,
        ge=1,
        le=MAX_SIM_SYMBOLS,
        description="how many symbols the simulator trades (the whole market is ~5,400)",
    )
    sim_speed: float = Field(
        default=1.0, gt=0, le=10_000, description="time acceleration: sim seconds per wall second"
    )
    sim_session: Literal["always_open", "real"] = Field(
        default="always_open",
        description=(
            "always_open: continuous trading around the clock (demo); "
            "real: A-share sessions on the sim clock in Asia/Shanghai"
        ),
    )
    sim_start: datetime | time | None = Field(
        default=None,
        description=(
            "sim clock start (naive: Asia/Shanghai), default now; a time of day alone "
            "(09:14:30) is that time on the latest trading day: the opening bell, a whole day"
        ),
    )
    sim_holidays: tuple[date, ...] = Field(
        default=(), description="exchange holidays (closed all day) for the real session mode"
    )
    sim_interval_s: float = Field(
        default=3.0, gt=0, le=3600, description="snapshot interval per symbol, in sim seconds"
    )
    status_interval_s: float = Field(
        default=1.0, gt=0, le=300, description="heartbeat interval on md.status.<source_id>, s"
    )
    stream_storage: Literal["file", "memory"] = Field(
        default="file", description="JetStream storage of the market-data streams"
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="JetStream stream replicas")
    stream_max_age_s: float | None = Field(
        default=None, gt=0, description="stream history in seconds; default one trading day"
    )
    kline_tick_periods: CommaList = Field(
        default=KLINE_PERIODS,
        description="bar periods whose forming bar is republished on every snapshot that "
        "changes it; the others once a minute (fewer K-line messages: docs/operations.md)",
    )
    history_daily_bars: int = Field(
        default=2500, ge=1, le=100_000, description="daily bars kept per symbol (MD_BAR_1D)"
    )
    history_minute_days: int = Field(
        default=20,
        ge=1,
        le=2000,
        description="trading days of 1m/5m/15m/30m/60m bars kept per symbol (MD_BAR_*)",
    )
    history_backfill_days: int = Field(
        default=250,
        ge=0,
        le=100_000,
        description="daily bars the source backfills on start (sim: generated; xtquant: "
        "downloaded); 0: none",
    )
    history_progress_every: int = Field(
        default=500, ge=1, description="backfill: a progress log line per this many symbols"
    )
    publish_max_in_flight: int = Field(
        default=4096,
        ge=1,
        le=100_000,
        description="JetStream publishes awaiting their ack, at most (the publish window)",
    )

    # -- xtquant --
    xt_host: str = Field(
        default="", description="MiniQMT data address; empty: the local instances xtdata finds"
    )
    xt_port: int | None = Field(
        default=None, ge=1, le=65535, description="MiniQMT data port (xtdata's default 58610)"
    )
    xt_symbols: CommaList = Field(
        default=(), description="these symbols only (comma separated); empty: the sectors"
    )
    xt_sectors: CommaList = Field(
        default=("沪深京A股", "沪深指数", "沪深ETF"),
        description="sectors that make the universe when no symbols given (stocks, indices, "
        "ETFs; add 沪深基金 for LOFs)",
    )
    xt_markets: CommaList = Field(
        default=("SH", "SZ", "BJ"), description="market codes of the whole-market subscription"
    )
    xt_single_max: int = Field(
        default=50,
        ge=1,
        le=500,
        description="up to this many symbols subscribe one by one; more use the whole-market push",
    )
    xt_klines: Literal["auto", "source", "derive"] = Field(
        default="auto",
        description="source: xtquant's own bars; derive: from ticks; auto: source when one by one",
    )
    xt_bar_label: Literal["end", "start"] = Field(
        default="end", description="whether an xtquant intraday bar's time is its end or start"
    )
    xt_history_minute_days: int = Field(
        default=5,
        ge=0,
        le=2000,
        description="trading days of 1m/5m/15m/30m/60m bars downloaded on start and after each "
        "close (at most history_minute_days are kept); 0: daily bars only",
    )
    xt_level2: bool = Field(
        default=False, description="subscribe l2quote and l2transaction (needs Level-2 rights)"
    )
    xt_silence_s: float = Field(
        default=30.0, gt=0, le=3600, description="no push this long while trading: resubscribe"
    )
    xt_reconnect_max_s: float = Field(
        default=30.0, gt=0, le=600, description="longest wait between reconnect attempts"
    )
    xt_inbox_max: int = Field(
        default=200_000, ge=100, description="queued pushes (bars, trades) before the oldest drop"
    )
    # -- replay --
    replay_file: Path | None = Field(default=None, description="recording to replay")
    replay_speed: str = Field(
        default="1x", pattern=SPEED_RE.pattern, description="1x, 10x, 0.5x ... or max"
    )
    replay_klines: Literal["auto", "recorded", "derive"] = Field(
        default="auto",
        description="derive bars from the quotes; auto: only when the recording has no bars",
    )

    @field_validator("kline_tick_periods")
    @classmethod
    def _known_periods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(KLINE_PERIODS)
        if unknown:
            raise ValueError(f"unknown kline periods: {', '.join(sorted(unknown))}")
        return value

    def stream_policy(self) -> StreamPolicy:
        return StreamPolicy(
            storage=StorageType(self.stream_storage),
            replicas=self.stream_replicas,
            max_age_s=self.stream_max_age_s,
            history=HistoryRetention(self.history_daily_bars, self.history_minute_days),
        )

    # -- observability --
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="serve Prometheus /metrics here; unset: off"
    )
    metrics_host: str = Field(default="127.0.0.1", description="address of the metrics server")
    metrics_samples_per_s: float = Field(
        default=100.0, ge=0, description="latency and lag observations per second, each"
    )
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector base URL, e.g. http://otel-collector:4318"
    )
    otlp_interval_s: float = Field(default=15.0, gt=0, description="OTLP metric export period")
