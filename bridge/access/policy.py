"""Access control for one bridge process: built once from the settings, kept on ``app.state``.

It knows whether auth is on, verifies tokens, counts admissions and judges browser Origins;
the WebSocket gate (bridge/ws/gate.py) and the REST helpers (bridge/access/http.py) use it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from bridge.access.admission import Admission
from bridge.access.auth import TokenVerifier, load_keys
from bridge.access.principal import Principal, PrincipalKind, Scope, data_types_for
from bridge.access.protocolnoise import install_protocol_noise_filter
from bridge.access.redact import install_redaction
from bridge.errors import AccessDeniedError, AuthError, InsecureBindError
from bridge.settings import BridgeSettings
from schemas import CloseCode, ErrorCode

logger = logging.getLogger(__name__)

BEARER_SUBPROTOCOL_PREFIX = "bearer."
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for a loopback IP or the name ``localhost``; any other name counts as exposed."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: BridgeSettings) -> None:
    """Refuse to serve without auth on anything but loopback, unless explicitly forced."""
    if settings.auth_enabled or is_loopback(settings.host):
        return
    if settings.allow_insecure_bind:
        logger.warning(
            "auth is OFF and the bridge listens on %s, which is not loopback: anyone who can "
            "reach it reads market data as anonymous (MDBRIDGE_ALLOW_INSECURE_BIND is set)",
            settings.host,
        )
        return
    message = (
        f"refusing to listen on {settings.host} with auth off: turn auth on "
        "(MDBRIDGE_AUTH_ENABLED=true and a key), listen on 127.0.0.1, or set "
        "MDBRIDGE_ALLOW_INSECURE_BIND=true to accept the risk"
    )
    logger.error(message)
    raise InsecureBindError(message)


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """A token from ``Authorization: Bearer``, the ``bearer.<token>`` subprotocol or ``?token=``."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed Authorization header", "use 'Authorization: Bearer <JWT>'")
        return token.strip()
    offered = bearer_subprotocol(headers.get("sec-websocket-protocol", ""))
    if offered is not None:
        return offered[len(BEARER_SUBPROTOCOL_PREFIX) :]
    return query.get("token") or None


def bearer_subprotocol(header: str) -> str | None:
    """The ``bearer.<token>`` entry of a Sec-WebSocket-Protocol header, if any."""
    for entry in header.split(","):
        entry = entry.strip()
        if entry.startswith(BEARER_SUBPROTOCOL_PREFIX) and len(entry) > 7:
            return entry
    return None


class Access:
    def __init__(self, settings: BridgeSettings) -> None:
        check_bind(settings)
        install_redaction()  # uvicorn logs handshake URLs, ?token= included
        install_protocol_noise_filter()  # one short line per hostile connection
        self.settings = settings
        self.auth_enabled = settings.auth_enabled
        self.verifier = TokenVerifier(load_keys(settings), settings) if self.auth_enabled else None
        self.admission = Admission(settings)
        scopes = frozenset(settings.anonymous_scopes)
        self.anonymous = Principal(
            subject="anonymous",
            scopes=scopes,
            data_types=data_types_for(scopes, settings.l2_data_types),
            kind=PrincipalKind.ANONYMOUS,
        )
        self._origins = frozenset(o.rstrip("/") for o in settings.allowed_origins)

    def authenticate(self, token: str | None) -> Principal:
        """The principal for a token (or for no token); raises AuthError."""
        if self.verifier is None:
            return self.anonymous
        if token is None:
            raise AuthError(
                "missing token",
                "send a token: 'Authorization: Bearer <JWT>', the 'bearer.<JWT>' subprotocol, "
                "'?token=<JWT>' or an auth frame",
            )
        return self.verifier.verify(token)

    def expiry_deadline(self, principal: Principal) -> float | None:
        return self.verifier.expiry_deadline(principal) if self.verifier else None

    @staticmethod
    def require(principal: Principal, scope: Scope) -> None:
        if not principal.has(scope):
            raise AccessDeniedError(
                CloseCode.FORBIDDEN,
                ErrorCode.FORBIDDEN,
                f"token lacks the {scope.value} scope",
                http_status=403,
            )

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Browsers send Origin; other clients do not and are judged by their token alone.

        Allowed: no Origin, a listed one (or ``*``), or the bridge's own origin. With auth off,
        the bridge's own origin counts only on a loopback host name, which defeats DNS
        rebinding (a hostile page whose name resolves to 127.0.0.1).
        """
        if origin is None:
            return True
        origin = origin.rstrip("/")
        if "*" in self._origins or origin in self._origins:
            return True
        netloc = urlsplit(origin).netloc if "://" in origin else ""
        if not netloc or host is None or netloc.lower() != host.lower():
            return False
        return self.auth_enabled or is_loopback(urlsplit(origin).hostname or "")

    def limits(self, principal: Principal) -> dict[str, int | float]:
        """Every admission limit, as ``status connected`` reports it, for this principal."""
        return {
            **self.admission.limits(),
            "max_subscriptions": principal.subscription_limit(self.settings.max_subscriptions),
            "tier": principal.tier,
            "auth_timeout_s": self.settings.auth_timeout_s,
        }
