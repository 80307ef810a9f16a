"""The xtquant stand-in on ``sys.path``, for this process and for adapter subprocesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAKE_PATH = Path(__file__).resolve().parent / "fake_xtquant"
REPO = Path(__file__).resolve().parents[2]

if str(FAKE_PATH) not in sys.path:
    sys.path.insert(0, str(FAKE_PATH))

# Found through the path set just above; tests import the stand-in from here, never directly.
from xtquant import xtdata  # noqa: E402
from xtquant._fake import (  # noqa: E402
    SERVER,
    FakeServer,
    auto_tick,
    bar_record,
    fresh_server,
    instrument_detail,
    l2quote_record,
    price,
    tick_record,
    transaction_record,
)

__all__ = [
    "SERVER",
    "FakeServer",
    "auto_tick",
    "bar_record",
    "fresh_server",
    "instrument_detail",
    "l2quote_record",
    "price",
    "subprocess_env",
    "tick_record",
    "transaction_record",
    "xtdata",
]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of an adapter subprocess that finds the stand-in before anything else."""
    path = os.pathsep.join([str(FAKE_PATH), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), **extra}
