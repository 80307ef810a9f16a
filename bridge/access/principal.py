"""Who a connection or request is and what it may read: scopes, symbol patterns, quotas.

A :class:`Principal` is built once per connection (from a verified token, or the anonymous
user when auth is off) and checked on the control path only: never per message.

Scopes:

- ``md:read``: needed for anything (a WebSocket connection, every REST market-data call);
- ``md:l2``: the Level-2 data types (``depth`` by default: the order book, 10 levels when the
  source has Level-2; ``l2_data_types`` adds more, e.g. ``trade`` for exchange tick-by-tick);
- ``md:whole_market``: market wildcards such as ``*.SH``;
- ``admin``: the admin endpoints.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.errors import RequestError
from schemas import DataType, ErrorCode, MessageType
from schemas.symbols import is_market_wildcard

# A token's symbol patterns: fnmatch-style over `<code>.<market>`, e.g. `*.SH`, `000001.SZ`,
# `688*.SH`, `*`. Only digits, `*` and `?` in the code part: nothing else can match a symbol.
SYMBOL_PATTERN_RE = re.compile(r"\*|[0-9*?]{1,6}\.(SH|SZ|BJ|\*)")
MAX_SYMBOL_PATTERNS = 1000
PRE_AUTH_MESSAGES = frozenset({MessageType.AUTH.value, MessageType.PING.value})


class Scope(StrEnum):
    READ = "md:read"
    L2 = "md:l2"
    WHOLE_MARKET = "md:whole_market"
    ADMIN = "admin"


class PrincipalKind(StrEnum):
    TOKEN = "token"  # noqa: S105 (a verified token: the kind's name, not a secret)
    ANONYMOUS = "anonymous"  # auth is off
    PENDING = "pending"  # auth is on and the connection has not sent its auth frame yet


def is_symbol_pattern(text: str) -> bool:
    return SYMBOL_PATTERN_RE.fullmatch(text) is not None


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns) or r"(?!)")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    data_types: frozenset[DataType]
    symbols: tuple[str, ...] | None = None  # None: every symbol
    max_subscriptions: int | None = None  # None: the server's limit
    tier: int = 0
    expires_at: float | None = None  # epoch seconds
    kind: PrincipalKind = PrincipalKind.TOKEN
    _matcher: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.symbols is not None:
            object.__setattr__(self, "_matcher", _compile(self.symbols))

    @property
    def pending(self) -> bool:
        return self.kind is PrincipalKind.PENDING

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes

    def subscription_limit(self, server_limit: int) -> int:
        """The smaller of the token's and the server's per-connection limit."""
        if self.max_subscriptions is None:
            return server_limit
        return min(self.max_subscriptions, server_limit)

    def check_request(self, message_type: str) -> None:
        """Before its auth frame a connection may only authenticate and ping."""
        if self.pending and message_type not in PRE_AUTH_MESSAGES:
            raise RequestError(
                ErrorCode.UNAUTHORIZED,
                'authenticate first: send {"type": "auth", "data": {"token": "<JWT>"}}',
            )

    def check_subscription(self, data_type: DataType, symbol: str) -> None:
        """Raise FORBIDDEN when the token does not cover this data type and symbol."""
        if data_type not in self.data_types:
            raise RequestError(
                ErrorCode.FORBIDDEN, f"{data_type.value} data needs the {Scope.L2.value} scope"
            )
        if is_market_wildcard(symbol):
            if not self.has(Scope.WHOLE_MARKET):
                raise RequestError(
                    ErrorCode.FORBIDDEN,
                    f"market wildcards need the {Scope.WHOLE_MARKET.value} scope",
                )
            market = symbol.partition(".")[2]
            if self.symbols is not None and not {"*", "*.*", f"*.{market}"} & set(self.symbols):
                raise RequestError(
                    ErrorCode.FORBIDDEN, f"this token does not cover the whole {market} market"
                )
            return
        if self._matcher is not None and self._matcher.match(symbol) is None:
            raise RequestError(ErrorCode.FORBIDDEN, f"{symbol} is outside this token's symbols")

    def describe(self) -> dict[str, Any]:
        """What a client may learn about itself (``status authenticated``, ``/v1/auth/whoami``)."""
        return {
            "subject": self.subject,
            "kind": self.kind.value,
            "scopes": sorted(self.scopes),
            "data_types": sorted(dt.value for dt in self.data_types),
            "symbols": list(self.symbols) if self.symbols is not None else None,
            "max_subscriptions": self.max_subscriptions,
            "tier": self.tier,
            # whole epoch seconds, as a JWT's exp
            "expires_at": None if self.expires_at is None else int(self.expires_at),
        }


def data_types_for(scopes: Iterable[str], l2_data_types: Iterable[str]) -> frozenset[DataType]:
    """Every data type, minus the Level-2 ones unless ``md:l2`` is among ``scopes``."""
    if Scope.L2.value in set(scopes):
        return frozenset(DataType)
    gated = {DataType(t) for t in l2_data_types}
    return frozenset(dt for dt in DataType if dt not in gated)


ANONYMOUS = Principal(
    subject="anonymous",
    scopes=frozenset({Scope.READ.value, Scope.L2.value, Scope.WHOLE_MARKET.value}),
    data_types=frozenset(DataType),
    kind=PrincipalKind.ANONYMOUS,
)

PENDING = Principal(
    subject="", scopes=frozenset(), data_types=frozenset(), kind=PrincipalKind.PENDING
)
