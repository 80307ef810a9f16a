"""Bridge settings: one frozen object per process (flags > ``MDBRIDGE_*`` env > config file)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from processkit.natsconf import NatsOptions
from processkit.settings import ProcessSettings
from schemas import DataType


class BridgeSettings(NatsOptions, ProcessSettings):
    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8000, ge=0, le=65535, description="listen port")
    ws_impl: Literal["websockets-sansio", "websockets", "wsproto"] = Field(
        default="websockets-sansio", description="uvicorn WebSocket implementation"
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop", description="event loop (measured side by side: docs/benchmarks.md)"
    )
    heartbeat_interval_s: float = Field(default=15.0, gt=0, description="status heartbeat period")
    max_subscriptions: int = Field(default=500, ge=1, description="per connection")
    max_frame_bytes: int = Field(default=65_536, ge=1024, description="largest client frame")
    queue_max_bytes: int = Field(
        default=4 * 1024 * 1024, ge=4096, description="per-connection send queue bound"
    )
    queue_max_age_ms: float = Field(
        default=50.0,
        ge=0,
        description="a send queue older than this keeps only the newest quote/depth per subject"
        " (0: on bytes only)",
    )
    write_linger_ms: float = Field(
        default=0.0,
        ge=0,
        le=20,
        description="wait at least this long after the first queued message before writing,"
        " so more messages share one write (0: write after each fan-out)",
    )
    write_pace_max_ms: float = Field(
        default=20.0,
        ge=0,
        le=100,
        description="under load, wait before writing as long as the previous write round took,"
        " up to this (0: never wait)",
    )
    batch_max_messages: int = Field(default=256, ge=1, description="messages per batch frame")
    batch_max_bytes: int = Field(
        default=32 * 1024, ge=1024, description="bytes per batch frame (one message always fits)"
    )
    send_buffer_bytes: int = Field(
        default=64 * 1024,
        ge=4096,
        description="per connection: bytes held in the bridge's socket buffers, user space"
        " plus kernel unsent (TCP_NOTSENT_LOWAT)",
    )
    close_timeout_s: float = Field(
        default=2.0, gt=0, description="a close the peer does not take is cut (socket aborted)"
    )
    handshake_timeout_s: float = Field(
        default=10.0, gt=0, description="a connection without a complete HTTP request is cut"
    )
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

    # -- access control: auth, permissions, admission, origins (docs/security.md) --
    auth_enabled: bool = Field(default=False, description="require a JWT on /ws and REST")
    auth_secret: SecretStr | None = Field(
        default=None, description="HS256 shared secret, at least 32 bytes"
    )
    auth_secret_kid: str | None = Field(default=None, description="key id of auth_secret")
    auth_public_key_file: str | None = Field(
        default=None, description="PEM public key: RSA (RS256) or EC P-256 (ES256)"
    )
    auth_public_key_kid: str | None = Field(default=None, description="its key id")
    auth_jwks_file: str | None = Field(
        default=None, description="JWKS document: several keys by kid, for rotation"
    )
    auth_issuer: str | None = Field(default=None, description="required `iss`, if set")
    auth_audience: str | None = Field(default=None, description="required `aud`, if set")
    auth_leeway_s: float = Field(default=30.0, ge=0, le=600, description="clock skew on exp/nbf")
    auth_require_exp: bool = Field(default=True, description="refuse tokens without `exp`")
    auth_timeout_s: float = Field(
        default=10.0, gt=0, description="time to send the auth frame when no token came along"
    )
    anonymous_scopes: Annotated[list[str], NoDecode] = Field(
        default=["md:read", "md:l2", "md:whole_market"],
        description="what everyone may do while auth is off",
    )
    l2_data_types: Annotated[list[DataType], NoDecode] = Field(
        default=[DataType.DEPTH], description="data types that need the md:l2 scope"
    )
    allow_insecure_bind: bool = Field(
        default=False, description="allow auth off on a non-loopback address (logged loudly)"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default=[], description="browser Origins allowed on /ws and by CORS ('*': any)"
    )
    admin_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Host names the admin API answers besides loopback names and `host`"
        " ('*': any); enforced with auth off, and with auth on once set",
    )
    max_connections: int = Field(default=10_000, ge=1, description="per process, all tiers")
    max_connections_per_ip: int = Field(default=1_000, ge=0, description="0: no limit")
    max_connections_per_subject: int = Field(
        default=100, ge=0, description="per token subject; 0: no limit"
    )
    connect_rate_per_ip: int = Field(default=50, ge=1, description="new connections/s per IP")
    connect_burst_per_ip: int = Field(default=200, ge=1, description="token-bucket burst")
    frames_per_s: int = Field(default=200, ge=1, description="client frames/s per connection")
    frame_burst: int = Field(default=1_000, ge=1, description="token-bucket burst")
    frame_rate_strikes: int = Field(
        default=50, ge=1, description="refused frames (decaying 1/s) before close 4008"
    )
    suggestions_per_request: int = Field(
        default=8, ge=0, description="unknown symbols per request that get suggestions"
    )
    suggestions_per_s: int = Field(
        default=40, ge=0, description="symbol suggestion lookups/s per connection (and burst)"
    )
    rest_search_per_s: int = Field(
        default=20, ge=1, description="GET /v1/symbols?q= searches/s per client IP"
    )
    rest_search_burst: int = Field(default=40, ge=1, description="token-bucket burst")
    tiers: int = Field(default=3, ge=1, le=10, description="priority tiers 0 (lowest) .. tiers-1")
    tier_reserve: int = Field(
        default=100, ge=0, description="connections held back for each tier above the lowest"
    )
    retry_after_ms: int = Field(default=5_000, ge=0, description="retry hint when at capacity")

    @field_validator(
        "anonymous_scopes", "l2_data_types", "allowed_origins", "admin_allowed_hosts", mode="before"
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Env values may be comma or space separated (JSON lists work too)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in re.split(r"[\s,]+", text) if part]
        return value

    # -- observability --
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://otel-collector:4318): metrics and "
        "control-path spans are exported there too; unset: /metrics and /admin/traces only",
    )
    otlp_interval_s: float = Field(default=15.0, gt=0, description="OTLP metric export period")
    latency_samples_per_s: float = Field(
        default=200.0,
        ge=0,
        description="latency observations per second, process-wide (sampled in the writers)",
    )
    monitor_interval_s: float = Field(
        default=1.0, gt=0, description="how often the monitor samples and checks the alerts"
    )
    monitor_window_s: float = Field(
        default=30.0, gt=0, description="window of the latency percentiles and the error rate"
    )
    alert_max_connections: int = Field(default=1000, ge=0, description="alert above this")
    alert_max_latency_ms: float = Field(
        default=100.0, gt=0, description="alert when p95 broker-to-socket latency is above this"
    )
    alert_max_error_rate_percent: float = Field(
        default=5.0, ge=0, description="alert when more requests than this fail, in the window"
    )
    alert_min_requests: int = Field(
        default=20, ge=1, description="no error-rate alert with fewer requests in the window"
    )
    alert_max_memory_mb: float = Field(
        default=512.0, gt=0, description="alert when resident memory is above this"
    )

    # -- REST --
    rest_max_age_s: int = Field(
        default=1, ge=0, le=3600, description="Cache-Control max-age of REST snapshots, seconds"
    )
    rest_directory_max_age_s: int = Field(
        default=60, ge=0, le=86_400, description="Cache-Control max-age of symbol lookups"
    )
    rest_history_max_scan: int = Field(
        default=50_000,
        ge=100,
        le=10_000_000,
        description="stored messages one K-line or trade history request may read, at most",
    )
    rest_history_concurrency: int = Field(
        default=4, ge=1, le=256, description="history requests reading the streams at once"
    )

    # -- reliability: resume, ack mode, heartbeats, slow consumers, shutdown --
    nats_ping_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="NATS ping period: a link that goes silent (no FIN) is noticed after "
        "(nats_max_outstanding_pings + 1) periods (docs/operations.md, network faults)",
    )
    nats_max_outstanding_pings: int = Field(
        default=2, ge=1, description="unanswered NATS pings before the connection is dropped"
    )
    jetstream_probe_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="how often the bridge asks JetStream whether it answers through its server",
    )
    jetstream_probe_failures: int = Field(
        default=3,
        ge=1,
        description="unanswered JetStream probes in a row before moving to another NATS server",
    )
    ws_ping_interval_s: float = Field(
        default=20.0, gt=0, description="WebSocket ping period (protocol-level keepalive)"
    )
    ws_ping_timeout_s: float = Field(
        default=20.0, gt=0, description="a connection that does not answer a ping is closed"
    )
    send_timeout_s: float = Field(
        default=30.0, gt=0, description="a connection whose send blocks this long is closed (4009)"
    )
    slow_consumer_notice_s: float = Field(
        default=5.0, gt=0, description="at most one slow_consumer (conflated) notice per period"
    )
    resume_batch: int = Field(default=1000, ge=1, le=10_000, description="replay pull size")
    resume_concurrency: int = Field(
        default=16, ge=1, description="JetStream API calls for resumes in flight, per process"
    )
    resume_max_messages: int = Field(
        default=1_000_000, ge=1, description="longer gaps get recovered:false and a snapshot"
    )
    resume_timeout_s: float = Field(
        default=30.0, gt=0, description="a resume that cannot progress this long fails"
    )
    ack_wait_s: float = Field(default=30.0, gt=0, description="ack mode: redeliver after this")
    ack_max_pending: int = Field(
        default=1000, ge=1, le=100_000, description="ack mode: unacked messages in flight, at most"
    )
    ack_batch: int = Field(default=256, ge=1, description="ack mode: messages per pull")
    ack_inactive_threshold_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="ack mode: durables idle this long are deleted (tokens above tier 0)",
    )
    ack_inactive_threshold_low_tier_s: float = Field(
        default=600.0,
        gt=0,
        description="ack mode: the same for anonymous connections and tier-0 tokens",
    )
    ack_max_durables_per_principal: int = Field(
        default=20, ge=1, description="ack mode: durables one user (token subject) may hold"
    )
    ack_max_durables_per_stream: int = Field(
        default=500, ge=1, description="ack mode: durables all clients together may hold per stream"
    )
    consumer_reserve: int = Field(
        default=200,
        ge=0,
        description="a stream's last consumers (of its max_consumers) are kept for the bridges'"
        " shared feeds and resumes: no client durable takes them",
    )
    shutdown_grace_s: float = Field(
        default=10.0, gt=0, description="SIGTERM: notify, drain NATS and close within this"
    )
    shutdown_delay_s: float = Field(
        default=0.0, ge=0, description="SIGTERM: /readyz false this long before draining"
    )
    shutdown_reconnect_min_ms: int = Field(
        default=500, ge=0, description="shutdown notice: reconnect_after_ms drawn from here..."
    )
    shutdown_reconnect_max_ms: int = Field(
        default=5000, ge=0, description="...to here (jitter spreads the reconnect storm)"
    )

    # -- performance: compression and processes --
    ws_compression: bool = Field(
        default=False,
        description="negotiate permessage-deflate when a client offers it: ~6x fewer bytes,"
        " ~1.8-3.5x the CPU per message (docs/benchmarks.md)",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="bridge processes sharing the port (SO_REUSEPORT)"
    )
    gc_tuning: bool = Field(
        default=True,
        description="after start-up, freeze start-up objects out of garbage collection and"
        " raise the young threshold (bridge/core/gcpolicy.py; `mdbridge bridge` only, not a host)",
    )
