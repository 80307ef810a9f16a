"""Idempotent creation of the market-data streams, the bar history streams and the
symbol-directory KV bucket."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError, NotFoundError

from schemas import SYMBOLS_BUCKET
from schemas.history import HistoryRetention
from schemas.streams import StreamSpec, default_stream_specs, history_stream_specs
from services.errors import ProvisioningError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """Deployment choices layered on the specs: storage, replicas, history."""

    storage: StorageType = StorageType.FILE
    replicas: int = 1
    max_age_s: float | None = None  # None: each spec's default (one trading day)
    max_bytes: int = -1
    history: HistoryRetention = field(default_factory=HistoryRetention)  # MD_BAR_*: by count


def stream_config(spec: StreamSpec, policy: StreamPolicy) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=policy.storage,
        num_replicas=policy.replicas,
        max_age=spec.max_age_s if spec.by_count or policy.max_age_s is None else policy.max_age_s,
        max_bytes=-1 if spec.by_count else policy.max_bytes,
        max_msgs_per_subject=spec.max_msgs_per_subject,
        duplicate_window=spec.duplicate_window_s,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
        max_consumers=spec.max_consumers,
    )


async def ensure_streams(
    js: JetStreamContext,
    policy: StreamPolicy | None = None,
    specs: tuple[StreamSpec, ...] | None = None,
) -> dict[str, str]:
    """Create missing streams, bring differing ones up to date, and the KV bucket.

    Returns {stream: epoch}. Safe to run from every adapter at start: an existing stream is
    updated in place (its epoch, the creation time, is kept), never recreated, and only
    when its configuration differs. A user without the right to update streams (the
    shipped ``adapter`` user) gets a warning naming the differences instead.
    """
    policy = policy or StreamPolicy()
    epochs: dict[str, str] = {}
    if specs is None:
        specs = (*default_stream_specs(), *history_stream_specs(policy.history))
    for spec in specs:
        config = stream_config(spec, policy)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            info = await _create(js, spec, config)
        else:
            differing = differences(info.config, config)
            if differing:
                info = await _update(js, spec, config, differing) or info
        epochs[spec.name] = info.created.isoformat() if info.created else ""
    await ensure_symbol_bucket(js, policy)
    return epochs


def differences(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    """The fields provisioning sets whose values differ on the server."""
    found = []
    for name in _PROVISIONED_FIELDS:
        have, want = getattr(current, name), getattr(wanted, name)
        if isinstance(want, float) and isinstance(have, int | float):
            if abs(have - want) > 1e-3:
                found.append(name)
        elif name == "subjects":
            if sorted(have or []) != sorted(want or []):
                found.append(name)
        elif have != want:
            found.append(name)
    return found


_PROVISIONED_FIELDS = (
    "subjects",
    "storage",
    "num_replicas",
    "max_age",
    "max_bytes",
    "max_msgs_per_subject",
    "duplicate_window",
    "discard",
    "allow_direct",
    "max_consumers",
)
UPDATE_TIMEOUT_S = 3.0  # a refused request gets no answer: do not wait the default 5 s each


async def _create(js: JetStreamContext, spec: StreamSpec, config: StreamConfig) -> StreamInfo:
    try:
        info = await js.add_stream(config)
    except BadRequestError as exc:
        raise ProvisioningError(f"stream {spec.name}: {exc.description}") from exc
    logger.info("created stream %s", spec.name)
    return info


async def _update(
    js: JetStreamContext, spec: StreamSpec, config: StreamConfig, differing: list[str]
) -> StreamInfo | None:
    try:
        return await asyncio.wait_for(js.update_stream(config), UPDATE_TIMEOUT_S)
    except BadRequestError as exc:
        raise ProvisioningError(f"stream {spec.name}: {exc.description}") from exc
    except (TimeoutError, NatsError) as exc:
        logger.warning(
            "stream %s differs from its wanted configuration in %s and this NATS user may not "
            "update it (%r): an operator applies it (docs/operations.md)",
            spec.name,
            ", ".join(differing),
            exc,
        )
        return None


async def ensure_symbol_bucket(js: JetStreamContext, policy: StreamPolicy) -> None:
    try:
        await js.key_value(SYMBOLS_BUCKET)
    except NotFoundError:  # BucketNotFoundError is a NotFoundError
        await js.create_key_value(
            KeyValueConfig(
                bucket=SYMBOLS_BUCKET,
                history=1,
                storage=policy.storage,
                replicas=policy.replicas,
                description="mdbridge symbol directory: key = symbol, value = SymbolInfo JSON",
            )
        )
        logger.info("created KV bucket %s", SYMBOLS_BUCKET)
