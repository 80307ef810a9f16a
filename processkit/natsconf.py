"""NATS connection options shared by every process's settings.

``nats_connect_kwargs`` loads the TLS certificate files named here (I/O, hence not in schemas).
"""

from __future__ import annotations

import re
import ssl
from typing import Any

from pydantic import BaseModel, Field, SecretStr

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # usable as one subject token


class NatsOptions(BaseModel):
    """Mixed into each process's settings; read from ``MDBRIDGE_NATS_*``."""

    nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="comma-separated server URLs"
    )
    nats_user: str | None = Field(default=None, description="NATS user name")
    nats_password: SecretStr | None = Field(default=None, description="NATS password (secret)")
    nats_token: SecretStr | None = Field(default=None, description="NATS token (secret)")
    nats_creds: str | None = Field(default=None, description="path to a .creds file")
    nats_nkey_seed: str | None = Field(default=None, description="path to an nkey seed file")
    nats_tls_ca: str | None = Field(default=None, description="CA bundle to verify NATS TLS")
    nats_tls_cert: str | None = Field(default=None, description="client certificate (TLS)")
    nats_tls_key: str | None = Field(default=None, description="client certificate key (TLS)")
    nats_name: str = Field(default="mdbridge", description="connection name shown by NATS")
    nats_inbox_prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="reply and delivery subjects start with this; unset: `_INBOX_<nats_user>`"
        " with a user (the shipped NATS users may subscribe only to their own), else `_INBOX`",
    )

    def inbox_prefix(self) -> str | None:
        """The inbox prefix to connect with (None: nats-py's ``_INBOX``)."""
        if self.nats_inbox_prefix:
            return self.nats_inbox_prefix
        if self.nats_user and _TOKEN.fullmatch(self.nats_user):
            return f"_INBOX_{self.nats_user}"
        return None

    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def nats_connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``: servers, name, credentials and TLS."""
        kwargs: dict[str, Any] = {"servers": self.nats_servers(), "name": self.nats_name}
        if self.nats_user:
            kwargs["user"] = self.nats_user
        if self.nats_password:
            kwargs["password"] = self.nats_password.get_secret_value()
        if self.nats_token:
            kwargs["token"] = self.nats_token.get_secret_value()
        if self.nats_creds:
            kwargs["user_credentials"] = self.nats_creds
        if self.nats_nkey_seed:
            kwargs["nkeys_seed"] = self.nats_nkey_seed
        prefix = self.inbox_prefix()
        if prefix:
            kwargs["inbox_prefix"] = prefix
        if self.nats_tls_ca or self.nats_tls_cert:
            context = ssl.create_default_context(cafile=self.nats_tls_ca)
            if self.nats_tls_cert:
                context.load_cert_chain(self.nats_tls_cert, self.nats_tls_key)
            kwargs["tls"] = context
        return kwargs
