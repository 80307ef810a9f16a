"""Keys and tokens for access-control tests: real PyJWT, real RSA/EC keys made per session."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridge.access.tokens import SigningKey, hmac_signing_key, mint_token

SECRET = "test-secret-0123456789abcdef-0123456789"  # >= 32 bytes
HS = hmac_signing_key(SECRET.encode())


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_public_pem(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    path.write_bytes(public_pem(key))
    return str(path)


def write_private_pem(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def write_jwks(path: Path, secret_kid: str, secret: bytes, rsa_kid: str, ec_kid: str) -> str:
    """A JWKS document with an HMAC secret, the session RSA key and the session EC key."""
    rsa_numbers = rsa_key().public_key().public_numbers()
    ec_numbers = ec_key().public_key().public_numbers()
    keys: list[dict[str, Any]] = [
        {"kty": "oct", "kid": secret_kid, "k": _b64(secret), "alg": "HS256"},
        {
            "kty": "RSA",
            "kid": rsa_kid,
            "n": _int_b64(rsa_numbers.n),
            "e": _int_b64(rsa_numbers.e),
            "alg": "RS256",
        },
        {
            "kty": "EC",
            "kid": ec_kid,
            "crv": "P-256",
            "x": _b64(ec_numbers.x.to_bytes(32, "big")),
            "y": _b64(ec_numbers.y.to_bytes(32, "big")),
        },
    ]
    path.write_text(json.dumps({"keys": keys}))
    return str(path)


def token(subject: str = "alice", *, key: SigningKey = HS, **claims: Any) -> str:
    """A token signed with ``key`` (the test HS256 secret by default)."""
    scopes = claims.pop("scopes", ("md:read",))
    return mint_token(key, subject, scopes=scopes, **claims)
