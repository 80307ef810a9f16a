"""Idempotent creation of the market-data streams, the bar history streams and the
symbol-directory KV bucket."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig
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


def _stream_config(spec: StreamSpec, policy: StreamPolicy) -> StreamConfig:
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
    )


async def ensure_streams(
    js: JetStreamContext,
    policy: StreamPolicy | None = None,
    specs: tuple[StreamSpec, ...] | None = None,
) -> dict[str, str]:
    """Create or update every stream and the KV bucket; return {stream: epoch}.

    Safe to run from every adapter at start: an existing stream is updated in place
    (its epoch, the creation time, is kept), never recreated.
    """
    policy = policy or StreamPolicy()
    epochs: dict[str, str] = {}
    if specs is None:
        specs = (*default_stream_specs(), *history_stream_specs(policy.history))
    for spec in specs:
        config = _stream_config(spec, policy)
        try:
            await js.stream_info(spec.name)
            info = await js.update_stream(config)
        except NotFoundError:
            info = await js.add_stream(config)
            logger.info("created stream %s", spec.name)
        except BadRequestError as exc:
            raise ProvisioningError(f"stream {spec.name}: {exc.description}") from exc
        epochs[spec.name] = info.created.isoformat() if info.created else ""
    await ensure_symbol_bucket(js, policy)
    return epochs


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
