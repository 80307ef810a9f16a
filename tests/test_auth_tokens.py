"""Token verification with real PyJWT and real keys: every way a token is refused, and why."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.access.auth import TokenVerifier, load_keys
from bridge.access.principal import ANONYMOUS, PENDING, Principal, PrincipalKind, data_types_for
from bridge.access.tokens import SigningKey, hmac_signing_key, mint_token
from bridge.errors import AccessConfigError, AuthError, RequestError
from bridge.settings import BridgeSettings
from schemas import DataType, ErrorCode
from tests.support.tokens import (
    HS,
    SECRET,
    ec_key,
    public_pem,
    rsa_key,
    token,
    write_jwks,
    write_public_pem,
)

RSA = SigningKey("RS256", rsa_key())
EC = SigningKey("ES256", ec_key())


def verifier(**overrides: Any) -> TokenVerifier:
    settings = BridgeSettings(auth_enabled=True, **overrides)
    return TokenVerifier(load_keys(settings), settings)


@pytest.fixture(scope="module")
def hs() -> TokenVerifier:
    return verifier(auth_secret=SECRET)


def refused(v: TokenVerifier, text: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        v.verify(text)
    error = caught.value
    assert error.close_code == 4001
    assert error.code == ErrorCode.UNAUTHORIZED
    # a refusal never echoes the token or the key
    for secret in (text, SECRET, text.split(".")[-1]):
        if secret:
            assert secret not in error.reason
            assert secret not in error.message
    return error


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A token signed by hand: HMAC-SHA256 with any bytes as the secret."""

    def part(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_hs256_token_becomes_a_principal_with_its_claims(hs: TokenVerifier) -> None:
    p = hs.verify(
        token(
            "desk7",
            scopes=["md:read", "md:l2"],
            symbols=["*.SH", "000001.SZ"],
            tier=2,
            max_subscriptions=50,
        )
    )
    assert p.subject == "desk7"
    assert p.kind is PrincipalKind.TOKEN
    assert p.scopes == {"md:read", "md:l2"}
    assert p.symbols == ("*.SH", "000001.SZ")
    assert p.tier == 2
    assert p.max_subscriptions == 50
    assert p.data_types == set(DataType)
    assert p.expires_at is not None
    assert p.expires_at > time.time()


def test_rs256_and_es256_public_keys(tmp_path: Path) -> None:
    rs = verifier(auth_public_key_file=write_public_pem(tmp_path / "rsa.pem", rsa_key()))
    assert rs.verify(token("r", key=RSA)).subject == "r"
    es = verifier(auth_public_key_file=write_public_pem(tmp_path / "ec.pem", ec_key()))
    assert es.verify(token("e", key=EC)).subject == "e"
    # each key only verifies its own kind
    assert refused(rs, token("e", key=EC)).reason == "token algorithm not accepted"
    assert refused(es, token("h")).reason == "token algorithm not accepted"


def test_jwks_holds_several_keys_picked_by_kid(tmp_path: Path) -> None:
    new_secret = b"next-secret-0123456789abcdef-0123456789"
    v = verifier(
        auth_jwks_file=write_jwks(tmp_path / "jwks.json", "hs-2", new_secret, "rsa-1", "ec-1")
    )
    assert v.verify(token("a", key=SigningKey("RS256", rsa_key(), "rsa-1"))).subject == "a"
    assert v.verify(token("b", key=SigningKey("ES256", ec_key(), "ec-1"))).subject == "b"
    assert v.verify(token("c", key=hmac_signing_key(new_secret, "hs-2"))).subject == "c"
    assert refused(v, token("d", key=hmac_signing_key(new_secret, "hs-9"))).reason == (
        "unknown key id"
    )
    # the right kid with another key's signature
    wrong = token("e", key=hmac_signing_key(SECRET.encode(), "hs-2"))
    assert refused(v, wrong).reason == "bad token signature"


def test_rotation_old_and_new_secret_side_by_side(tmp_path: Path) -> None:
    new_secret = b"rotated-secret-0123456789abcdef-01234"
    v = verifier(
        auth_secret=SECRET,  # the old one, no kid: tokens without a kid
        auth_jwks_file=write_jwks(tmp_path / "j.json", "2026-11", new_secret, "r", "e"),
    )
    assert v.verify(token("old")).subject == "old"
    assert v.verify(token("new", key=hmac_signing_key(new_secret, "2026-11"))).subject == "new"


def test_alg_none_is_refused(hs: TokenVerifier) -> None:
    claims = {"sub": "x", "exp": time.time() + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    assert refused(hs, unsigned).reason == "unsigned token refused"


def test_algorithm_confusion_hs256_signed_with_the_rsa_public_key(tmp_path: Path) -> None:
    v = verifier(auth_public_key_file=write_public_pem(tmp_path / "rsa.pem", rsa_key()))
    claims = {"sub": "mallory", "exp": int(time.time()) + 60, "scope": "md:read admin"}
    forged = forge({"alg": "HS256", "typ": "JWT"}, claims, public_pem(rsa_key()))
    assert refused(v, forged).reason == "token algorithm not accepted"


def test_expired_and_not_yet_valid(hs: TokenVerifier) -> None:
    now = time.time()
    assert refused(hs, token(now=now - 7200, ttl_s=60)).reason == "token expired"
    # within the 30 s leeway an expired token still passes (clock skew)
    assert hs.verify(token(now=now - 70, ttl_s=60)).subject == "alice"
    early = token(extra={"nbf": int(now) + 600})
    assert refused(hs, early).reason == "token not yet valid"


def test_exp_is_required_unless_configured(hs: TokenVerifier) -> None:
    no_exp = jwt.encode({"sub": "svc", "scope": "md:read"}, SECRET, algorithm="HS256")
    error = refused(hs, no_exp)
    assert error.reason == "token lacks a required claim"
    assert "'exp'" in error.message
    assert verifier(auth_secret=SECRET, auth_require_exp=False).verify(no_exp).subject == "svc"


def test_issuer_and_audience(hs: TokenVerifier) -> None:
    v = verifier(auth_secret=SECRET, auth_issuer="idp.example", auth_audience="mdbridge")
    good = token(issuer="idp.example", audience="mdbridge")
    assert v.verify(good).subject == "alice"
    assert refused(v, token(issuer="evil", audience="mdbridge")).reason == "wrong token issuer"
    assert refused(v, token(issuer="idp.example", audience="x")).reason == "wrong token audience"
    assert refused(v, token()).reason == "token lacks a required claim"
    # a token for another audience is refused even where no audience is configured
    assert refused(hs, token(audience="other-service")).reason == "wrong token audience"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not-a-jwt", "malformed token"),
        ("a.b.c", "malformed token"),
        ("", "malformed token"),
        ("x" * 9000, "token too long"),
    ],
)
def test_malformed_tokens(hs: TokenVerifier, text: str, reason: str) -> None:
    assert refused(hs, text).reason == reason


def test_bad_signature(hs: TokenVerifier) -> None:
    other = hmac_signing_key(b"another-secret-0123456789abcdef-0123")
    assert refused(hs, token(key=other)).reason == "bad token signature"
    tampered = token()
    head, body, sig = tampered.split(".")
    assert refused(hs, f"{head}.{body}.{sig[:-4]}AAAA").reason == "bad token signature"


@pytest.mark.parametrize(
    "claims",
    [
        {"symbols": ["../etc"]},
        {"symbols": ["md.quote.>"]},
        {"symbols": "*.SH"},
        {"tier": -1},
        {"max_subscriptions": 0},
        {"sub": ""},
    ],
)
def test_invalid_claims(hs: TokenVerifier, claims: dict[str, Any]) -> None:
    text = jwt.encode({"sub": "a", "exp": time.time() + 60, **claims}, SECRET, algorithm="HS256")
    assert refused(hs, text).reason in {"invalid token claims", "invalid token"}


scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_value = scalar | st.lists(scalar, max_size=3) | st.dictionaries(st.text(max_size=4), scalar)
header = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "none", "RS256", "ES256", "HS512", "NONE"]) | json_value},
    optional={"kid": json_value, "typ": json_value, "crit": json_value, "b64": json_value},
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "sub": json_value, "exp": json_value, "nbf": json_value, "iat": json_value,
        "scope": json_value, "symbols": json_value, "tier": json_value, "aud": json_value,
        "max_subscriptions": json_value,
    },
)  # fmt: skip


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@functools.cache
def shared_verifier() -> TokenVerifier:
    return verifier(auth_secret=SECRET)


@settings(max_examples=300, deadline=None)
@given(header, claims, st.binary(max_size=80), st.booleans())
def test_any_token_is_accepted_or_refused_with_auth_error(
    head: dict[str, Any], body: dict[str, Any], signature: bytes, sign: bool
) -> None:
    v = shared_verifier()
    if sign and head.get("alg") == "HS256":
        text = forge(head, body, SECRET.encode())
    else:
        sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        text = f"{_segment(head)}.{_segment(body)}.{sig}"
    try:
        principal = v.verify(text)
    except AuthError:  # the one way to refuse: any other exception fails the test
        return
    # only a token signed with the secret and carrying a sub and an exp gets here
    assert sign
    assert principal.subject == body["sub"]


def test_tier_is_clamped_to_the_configured_tiers(hs: TokenVerifier) -> None:
    assert hs.verify(token(tier=99)).tier == 2  # tiers = 3 by default


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({}, "no key is configured"),
        ({"auth_secret": "short"}, "at least 32 bytes"),
        ({"auth_public_key_file": "/nonexistent.pem"}, "FileNotFoundError"),
    ],
)
def test_unusable_key_settings_fail_at_start(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(AccessConfigError, match=needle):
        verifier(**overrides)


def test_jwks_with_a_private_key_is_refused(tmp_path: Path) -> None:
    numbers = rsa_key().private_numbers()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB",
                                          "d": str(numbers.d)}]}))  # fmt: skip
    with pytest.raises(AccessConfigError, match="private key"):
        verifier(auth_jwks_file=str(path))


def test_mint_refuses_bad_patterns() -> None:
    with pytest.raises(ValueError, match="symbol pattern"):
        mint_token(HS, "a", symbols=["$JS.API.>"])


# -- what a principal may do --------------------------------------------------------------


def restricted(**kwargs: Any) -> Principal:
    scopes = frozenset(kwargs.pop("scopes", {"md:read"}))
    return Principal("p", scopes, data_types_for(scopes, ["depth"]), **kwargs)


def forbidden(p: Principal, data_type: DataType, symbol: str) -> str:
    with pytest.raises(RequestError) as caught:
        p.check_subscription(data_type, symbol)
    assert caught.value.code == ErrorCode.FORBIDDEN
    return caught.value.message


def test_permissions_scopes_and_patterns() -> None:
    reader = restricted(symbols=("*.SH", "000001.SZ"))
    reader.check_subscription(DataType.QUOTE, "600000.SH")
    reader.check_subscription(DataType.KLINE, "000001.SZ")
    assert "outside" in forbidden(reader, DataType.QUOTE, "000002.SZ")
    assert "md:l2" in forbidden(reader, DataType.DEPTH, "600000.SH")
    assert "md:whole_market" in forbidden(reader, DataType.QUOTE, "*.SH")
    market = restricted(scopes={"md:read", "md:whole_market"}, symbols=("*.SH", "000001.SZ"))
    market.check_subscription(DataType.QUOTE, "*.SH")
    assert "whole SZ market" in forbidden(market, DataType.QUOTE, "*.SZ")
    everything = restricted(scopes={"md:read", "md:l2", "md:whole_market"})
    everything.check_subscription(DataType.DEPTH, "*.BJ")
    assert restricted(max_subscriptions=10).subscription_limit(500) == 10
    assert restricted(max_subscriptions=900).subscription_limit(500) == 500
    assert ANONYMOUS.subscription_limit(500) == 500


def test_pending_principal_may_only_authenticate_and_ping() -> None:
    PENDING.check_request("auth")
    PENDING.check_request("ping")
    with pytest.raises(RequestError) as caught:
        PENDING.check_request("subscribe")
    assert caught.value.code == ErrorCode.UNAUTHORIZED
    ANONYMOUS.check_request("subscribe")
