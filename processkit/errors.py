"""Errors of the process edge."""

from __future__ import annotations


class ConfigFileError(ValueError):
    """The config file named by ``MDBRIDGE_CONFIG`` is missing or not a file."""
