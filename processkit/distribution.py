"""The one place that names the distribution; its version is read from the installed metadata.

The version is written once, in pyproject.toml; everything that reports it (the admin API,
the WebSocket ``connected`` frame, the OpenAPI/AsyncAPI documents, telemetry resources, the
CLI) reads it from here. A test checks the name matches pyproject.toml's ``[project] name``.
"""

from __future__ import annotations

from importlib.metadata import version

DISTRIBUTION = "mdbridge-ashare"  # pyproject.toml's [project] name; PyPI's `mdbridge` is not ours


def distribution_version() -> str:
    """The installed distribution's version (PEP 440, e.g. ``1.2.3``)."""
    return version(DISTRIBUTION)
