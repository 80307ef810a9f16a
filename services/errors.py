"""Errors raised by the adapters and the publisher runtime."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the services package raises on purpose."""


class ProvisioningError(ServiceError):
    """A stream or bucket exists with a configuration we cannot reconcile."""


class SourceError(ServiceError):
    """The data source failed (disconnected, silent, refused)."""


class UnknownAdapterError(ServiceError):
    """No adapter is registered under the requested name."""


class MissingExtraError(ServiceError):
    """An optional feature was asked for whose package the installed extras do not include."""
