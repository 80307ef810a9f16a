"""Like the real ``xtquant.xtconn``: where ``watch_xtquant_status`` leaves its callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Read only when a client is created (the real try_create_connection registers it then).
status_callback: Callable[[Any], None] | None = None
