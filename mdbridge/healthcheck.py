"""The container health check: ``python -m mdbridge.healthcheck [bridge|adapter]``.

One image runs the bridge and every adapter, so one Dockerfile ``HEALTHCHECK`` has to fit
both: with no argument the role is read from the container's main command (PID 1).

- bridge: ``GET /healthz`` on the local port answers 200.
- adapter: its own heartbeat on ``md.status.<source_id>`` is in ``MD_STATUS`` and recent,
  which proves both that the process is alive and that it reaches NATS.

Exit status 0 is healthy, 1 unhealthy (one line on stderr says why).
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import nats
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from processkit.natsconf import NatsOptions
from schemas import STATUS_STREAM, status_subject

Role = Literal["bridge", "adapter"]
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # noqa: S104 (recognised here, not bound)


class HealthcheckSettings(NatsOptions, BaseSettings):
    """Read from the same ``MDBRIDGE_*`` variables as the process being checked."""

    model_config = SettingsConfigDict(env_prefix="MDBRIDGE_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    source_id: str = "sim"
    healthcheck_timeout_s: float = Field(default=3.0, gt=0)
    healthcheck_max_age_s: float = Field(
        default=15.0, gt=0, description="an adapter heartbeat older than this is unhealthy"
    )


def detect_role(cmdline: Path = Path("/proc/1/cmdline")) -> Role:
    """``adapter`` when the main command is ``mdbridge adapter …``, else ``bridge``."""
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return "bridge"
    return "adapter" if b"adapter" in args else "bridge"


def check_bridge(settings: HealthcheckSettings) -> str | None:
    """None when healthy, else the reason."""
    host = "127.0.0.1" if settings.host in WILDCARD_HOSTS else settings.host
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=settings.healthcheck_timeout_s) as response:
            status = int(response.status)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        return f"{url}: {exc}"
    return None if status == 200 else f"{url}: HTTP {status}"


async def check_adapter(settings: HealthcheckSettings) -> str | None:
    """None when the adapter's last heartbeat is younger than ``healthcheck_max_age_s``."""
    subject = status_subject(settings.source_id)
    timeout = settings.healthcheck_timeout_s

    async def quiet(exc: Exception) -> None:  # the verdict is the return value, not a log
        pass

    try:
        # nats-py retries forever with max_reconnect_attempts=0: 1 means one try per server.
        connecting = nats.connect(
            **settings.nats_connect_kwargs(),
            connect_timeout=timeout,
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            allow_reconnect=False,
            error_cb=quiet,
        )
        nc = await asyncio.wait_for(connecting, timeout * 2)
    except Exception as exc:
        return f"cannot reach NATS: {exc!r}"
    try:
        js = nc.jetstream(timeout=timeout)
        msg = await js.get_last_msg(STATUS_STREAM, subject, direct=True)
    except Exception as exc:
        return f"no heartbeat on {subject}: {exc!r}"
    finally:
        await nc.close()
    if msg.time is None:
        return f"heartbeat on {subject} has no timestamp"
    age = (datetime.now(UTC) - msg.time).total_seconds()
    if age > settings.healthcheck_max_age_s:
        return f"last heartbeat on {subject} is {age:.0f}s old"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    role: Role
    if not args:
        role = detect_role()
    elif args[0] in ("bridge", "adapter"):
        role = "bridge" if args[0] == "bridge" else "adapter"
    else:
        print("usage: python -m mdbridge.healthcheck [bridge|adapter]", file=sys.stderr)
        return 2
    settings = HealthcheckSettings()
    reason = check_bridge(settings) if role == "bridge" else asyncio.run(check_adapter(settings))
    if reason is not None:
        print(f"unhealthy ({role}): {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
