"""Errors of the process edge."""

from __future__ import annotations


class ConfigFileError(ValueError):
    """The config file named by ``MDBRIDGE_CONFIG`` is missing or not a file."""


class MissingPackageError(ImportError):
    """A feature was asked for whose package the installed extras leave out."""
