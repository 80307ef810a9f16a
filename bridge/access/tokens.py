"""Minting tokens the bridge accepts, for local use and tests (``mdbridge token``).

Production tokens come from the operator's identity provider; this writes the same claims
(``sub``, ``exp``, ``iat``, ``nbf``, ``scope``, ``symbols``, ``max_subscriptions``, ``tier``)
with an HS256 secret or an RSA / EC private key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bridge.access.auth import EC_ALGORITHMS, HMAC_MIN_BYTES
from bridge.access.principal import is_symbol_pattern
from bridge.errors import AccessConfigError


@dataclass(frozen=True, slots=True)
class SigningKey:
    algorithm: str
    key: Any  # bytes (HMAC secret) or a cryptography private key
    kid: str | None = None


def hmac_signing_key(secret: bytes, kid: str | None = None) -> SigningKey:
    if len(secret) < HMAC_MIN_BYTES:
        raise AccessConfigError(f"an HMAC secret needs at least {HMAC_MIN_BYTES} bytes")
    return SigningKey("HS256", secret, kid)


def private_signing_key(path: str | Path, kid: str | None = None) -> SigningKey:
    """An RSA (RS256) or EC P-256/P-384 (ES256/ES384) private key from a PEM file."""
    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AccessConfigError(f"private key {path}: {type(exc).__name__}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return SigningKey("RS256", key, kid)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in EC_ALGORITHMS:
        return SigningKey(EC_ALGORITHMS[key.curve.name], key, kid)
    raise AccessConfigError(f"private key {path}: only RSA and EC P-256/P-384 keys")


def mint_token(
    key: SigningKey,
    subject: str,
    *,
    scopes: Sequence[str] = ("md:read",),
    symbols: Sequence[str] | None = None,
    ttl_s: float = 3600.0,
    tier: int | None = None,
    max_subscriptions: int | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    for pattern in symbols or ():
        if not is_symbol_pattern(pattern):
            raise ValueError(f"not a symbol pattern: {pattern!r} (e.g. '*.SH', '000001.SZ')")
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_s),
        "scope": " ".join(scopes),
    }
    if symbols is not None:
        claims["symbols"] = list(symbols)
    if tier is not None:
        claims["tier"] = tier
    if max_subscriptions is not None:
        claims["max_subscriptions"] = max_subscriptions
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    claims.update(extra or {})
    headers = {"kid": key.kid} if key.kid else None
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers=headers)
