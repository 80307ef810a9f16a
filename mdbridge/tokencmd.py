"""``mdbridge token``: mint an access token for local use; prints only the token."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ISSUE_EPILOG = """\
The key is, in order: --key-file (PEM private key: RS256/ES256), --secret-file, or the
bridge's own MDBRIDGE_AUTH_SECRET (HS256). Issuer and audience default to the bridge's
MDBRIDGE_AUTH_ISSUER / MDBRIDGE_AUTH_AUDIENCE. Examples:

  mdbridge token alice                                   # md:read, everything, 1 hour
  mdbridge token desk7 --scope md:read md:l2 --symbols '*.SH' 000001.SZ --ttl 8h --tier 2
  wscat -c "ws://127.0.0.1:8000/ws" -H "Authorization: Bearer $(mdbridge token alice)"
"""

_DURATION = re.compile(r"([0-9]+)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> int:
    """``3600``, ``90s``, ``15m``, ``8h`` or ``7d`` in seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3600, 15m, 8h, 7d)")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def add_token_parser(commands: Any) -> None:
    token = commands.add_parser(
        "token",
        help="mint an access token (JWT) for local use",
        epilog=ISSUE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("subject", help="who the token is for (the `sub` claim)")
    token.add_argument(
        "--scope",
        dest="scopes",
        nargs="+",
        default=None,
        help="md:read (default), md:l2, md:whole_market, admin",
    )
    token.add_argument("--symbols", nargs="+", help="allowed symbol patterns: '*.SH' 000001.SZ")
    token.add_argument("--ttl", type=duration_s, default=3600, help="lifetime (default 1h)")
    token.add_argument("--tier", type=int, help="priority tier (0 = lowest)")
    token.add_argument("--max-subscriptions", dest="max_subscriptions", type=int)
    token.add_argument("--key-file", dest="key_file", help="PEM private key (RS256/ES256)")
    token.add_argument("--secret-file", dest="secret_file", help="file holding an HS256 secret")
    token.add_argument("--kid", help="key id to put in the header")
    token.add_argument("--issuer", help="`iss` claim")
    token.add_argument("--audience", help="`aud` claim")


def run_token(args: argparse.Namespace) -> int:
    from bridge.access.tokens import SigningKey, hmac_signing_key, mint_token, private_signing_key
    from bridge.errors import AccessConfigError
    from bridge.settings import BridgeSettings

    settings = BridgeSettings()
    try:
        key: SigningKey
        if args.key_file:
            key = private_signing_key(args.key_file, args.kid)
        elif args.secret_file:
            key = hmac_signing_key(Path(args.secret_file).read_bytes().strip(), args.kid)
        elif settings.auth_secret is not None:
            secret = settings.auth_secret.get_secret_value().encode()
            key = hmac_signing_key(secret, args.kid or settings.auth_secret_kid)
        else:
            raise AccessConfigError(
                "no key: pass --key-file or --secret-file, or set MDBRIDGE_AUTH_SECRET"
            )
        scopes = [s for item in args.scopes or ["md:read"] for s in re.split(r"[\s,]+", item) if s]
        if "md:read" not in scopes:
            print("mdbridge: warning: without md:read the token cannot read data", file=sys.stderr)
        token = mint_token(
            key,
            args.subject,
            scopes=scopes,
            symbols=args.symbols,
            ttl_s=args.ttl,
            tier=args.tier,
            max_subscriptions=args.max_subscriptions,
            issuer=args.issuer or settings.auth_issuer,
            audience=args.audience or settings.auth_audience,
        )
    except (AccessConfigError, OSError, ValueError) as exc:
        print(f"mdbridge: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
