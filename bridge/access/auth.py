"""Verifying bearer tokens (JWT, PyJWT) and turning their claims into a :class:`Principal`.

Every key is bound to exactly one algorithm when it is loaded (an HS256 secret, an RSA key
for RS256, an EC P-256 key for ES256...), and a token is only ever checked with its key's
algorithm: ``alg: none`` and algorithm confusion (an HS256 token "signed" with an RSA public
key) have no key to succeed with. Several keys may be live at once, picked by ``kid``, so
keys can be rotated without downtime. Tokens are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.types import Options
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bridge.access.principal import (
    MAX_SYMBOL_PATTERNS,
    Principal,
    PrincipalKind,
    data_types_for,
    is_symbol_pattern,
)
from bridge.errors import AccessConfigError, AuthError, describe
from bridge.settings import BridgeSettings

logger = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8192
HMAC_MIN_BYTES = 32
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "PS256"})
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384"}


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    kid: str | None  # None: tried for any token whose kid no other key claims
    algorithm: str
    key: Any  # bytes for HMAC, a cryptography public key otherwise


def _public_key_algorithm(key: Any, source: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise AccessConfigError(f"{source}: RSA keys need at least 2048 bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in EC_ALGORITHMS:
        return EC_ALGORITHMS[key.curve.name]
    raise AccessConfigError(f"{source}: only RSA and EC P-256/P-384 public keys are supported")


def _hmac_key(secret: bytes, kid: str | None, algorithm: str, source: str) -> VerifyingKey:
    if len(secret) < HMAC_MIN_BYTES:
        raise AccessConfigError(f"{source}: an HMAC secret needs at least {HMAC_MIN_BYTES} bytes")
    return VerifyingKey(kid, algorithm, secret)


def _jwks_keys(path: str) -> list[VerifyingKey]:
    try:
        document = json.loads(Path(path).read_text())
        entries = document["keys"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AccessConfigError(f"JWKS file {path}: {type(exc).__name__}") from None
    keys = []
    for index, entry in enumerate(entries):
        where = f"JWKS file {path}, key {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            raise AccessConfigError(f"{where}: every key needs a string 'kid'")
        if entry.get("kty") in ("RSA", "EC") and "d" in entry:
            raise AccessConfigError(f"{where}: a private key; publish public keys only")
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise AccessConfigError(f"{where}: {exc}") from None
        algorithm = jwk.algorithm_name
        if algorithm in HMAC_ALGORITHMS:
            keys.append(_hmac_key(jwk.key, entry["kid"], algorithm, where))
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            keys.append(VerifyingKey(entry["kid"], algorithm, jwk.key))
        else:
            raise AccessConfigError(f"{where}: algorithm {algorithm!r} is not accepted")
    return keys


def load_keys(settings: BridgeSettings) -> list[VerifyingKey]:
    """Every verifying key the settings name; raises AccessConfigError on anything unusable."""
    keys: list[VerifyingKey] = []
    if settings.auth_secret is not None:
        secret = settings.auth_secret.get_secret_value().encode()
        keys.append(_hmac_key(secret, settings.auth_secret_kid, "HS256", "auth_secret"))
    if settings.auth_public_key_file:
        path = settings.auth_public_key_file
        try:
            public = load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise AccessConfigError(f"public key {path}: {type(exc).__name__}") from None
        algorithm = _public_key_algorithm(public, path)
        keys.append(VerifyingKey(settings.auth_public_key_kid, algorithm, public))
    if settings.auth_jwks_file:
        keys.extend(_jwks_keys(settings.auth_jwks_file))
    kids = [k.kid for k in keys if k.kid is not None]
    if len(kids) != len(set(kids)):
        raise AccessConfigError("two verifying keys share a kid")
    return keys


class TokenClaims(BaseModel):
    """The claims mdbridge reads (PyJWT has already checked exp, nbf, iss and aud)."""

    model_config = ConfigDict(extra="allow")

    sub: str = Field(min_length=1, max_length=128)
    exp: float | None = None
    scope: str | list[str] = ""
    symbols: list[str] | None = Field(default=None, max_length=MAX_SYMBOL_PATTERNS)
    max_subscriptions: int | None = Field(default=None, ge=1, le=1_000_000)
    tier: int = Field(default=0, ge=0, le=1000)

    @field_validator("symbols")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            if not is_symbol_pattern(pattern):
                raise ValueError(f"not a symbol pattern: {pattern[:20]!r}")
        return value

    def scope_list(self) -> list[str]:
        scopes = self.scope.split() if isinstance(self.scope, str) else self.scope
        return [s for s in scopes[:32] if isinstance(s, str) and len(s) <= 64]


# PyJWT's exception -> (short close reason, longer message for the error frame / HTTP body)
_FAILURES: list[tuple[type[Exception], str, str]] = [
    (jwt.ExpiredSignatureError, "token expired", "the token has expired: get a new one"),
    (jwt.ImmatureSignatureError, "token not yet valid", "the token's nbf is in the future"),
    (jwt.InvalidSignatureError, "bad token signature", "the token's signature does not verify"),
    (jwt.InvalidIssuerError, "wrong token issuer", "the token's iss is not the one expected"),
    (jwt.InvalidAudienceError, "wrong token audience", "the token's aud is not the one expected"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim", ""),
    (jwt.InvalidAlgorithmError, "token algorithm not accepted", ""),
    (jwt.DecodeError, "malformed token", "the token is not a well-formed JWT"),
    (jwt.PyJWTError, "invalid token", "the token was refused"),
]


def _auth_error(exc: Exception) -> AuthError:
    for kind, reason, message in _FAILURES:
        if isinstance(exc, kind):
            if isinstance(exc, jwt.MissingRequiredClaimError):
                message = f"the token has no {exc.claim!r} claim"
            return AuthError(reason, message or reason)
    return AuthError("invalid token")


class TokenVerifier:
    def __init__(self, keys: Sequence[VerifyingKey], settings: BridgeSettings) -> None:
        if not keys:
            raise AccessConfigError(
                "auth is on but no key is configured: set MDBRIDGE_AUTH_SECRET, "
                "MDBRIDGE_AUTH_PUBLIC_KEY_FILE or MDBRIDGE_AUTH_JWKS_FILE"
            )
        self._by_kid = {k.kid: k for k in keys if k.kid is not None}
        self._unnamed = [k for k in keys if k.kid is None]
        self._settings = settings
        required = ["sub", "exp"] if settings.auth_require_exp else ["sub"]
        if settings.auth_issuer:
            required.append("iss")
        if settings.auth_audience:
            required.append("aud")
        self._options: Options = {"require": required, "verify_aud": True}

    def _candidates(self, header: dict[str, Any]) -> list[VerifyingKey]:
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise AuthError("unsigned token refused", "tokens with alg 'none' are never accepted")
        kid = header.get("kid")
        named = self._by_kid.get(kid) if isinstance(kid, str) else None
        keys = [named] if named is not None else self._unnamed
        if not keys:
            raise AuthError("unknown key id", "no key with the token's kid is configured")
        matching = [k for k in keys if k.algorithm == algorithm]
        if not matching:
            raise AuthError(
                "token algorithm not accepted",
                f"{algorithm[:16]!r} is not the algorithm of the key that would verify it",
            )
        return matching

    def verify(self, token: str) -> Principal:
        """The principal a token stands for; raises AuthError with a reason safe to show."""
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("token too long", f"tokens are at most {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token", "the token is not a well-formed JWT") from None
        failure: Exception | None = None
        for key in self._candidates(header):
            try:
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm],
                    issuer=self._settings.auth_issuer,
                    audience=self._settings.auth_audience,
                    leeway=self._settings.auth_leeway_s,
                    options=self._options,
                )
                return self.principal(claims)
            except jwt.InvalidSignatureError as exc:  # a key of the same kind may still match
                failure = exc
            except jwt.PyJWTError as exc:
                raise _auth_error(exc) from None
            except (ValueError, TypeError, KeyError) as exc:  # fail closed, whatever the input
                logger.warning("token verification failed: %s", type(exc).__name__)
                raise AuthError("invalid token") from None
        raise _auth_error(failure or jwt.InvalidSignatureError())

    def principal(self, claims: dict[str, Any]) -> Principal:
        try:
            parsed = TokenClaims.model_validate(claims)
        except ValidationError as exc:
            raise AuthError(
                "invalid token claims", f"invalid token claims: {describe(exc)}"
            ) from None
        scopes = frozenset(parsed.scope_list())
        return Principal(
            subject=parsed.sub,
            scopes=scopes,
            data_types=data_types_for(scopes, self._settings.l2_data_types),
            symbols=tuple(parsed.symbols) if parsed.symbols is not None else None,
            max_subscriptions=parsed.max_subscriptions,
            tier=min(parsed.tier, self._settings.tiers - 1),
            expires_at=parsed.exp,
            kind=PrincipalKind.TOKEN,
        )

    def expiry_deadline(self, principal: Principal) -> float | None:
        """Epoch seconds after which the connection's token no longer holds (with leeway)."""
        if principal.expires_at is None:
            return None
        return principal.expires_at + self._settings.auth_leeway_s
