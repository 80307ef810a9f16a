"""The environment of a subprocess that behaves like the Windows adapter host."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOP_MARK = "windows-like event loop made"  # printed by sitecustomize.py for each loop


def windows_like_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this folder first on PYTHONPATH: its sitecustomize runs at start-up."""
    path = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**env, "PYTHONPATH": path}
