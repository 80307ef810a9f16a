"""What a browser page on another site must not do with the admin API.

With auth off the admin API trusts loopback clients, and a browser on the operator's machine
is one. Two attacks ride on that:

* **DNS rebinding**: a hostile name that resolves to 127.0.0.1 makes the browser treat the
  bridge as the attacker's own origin; its requests carry ``Host: attacker.example``. So
  the ``Host`` must be a loopback name, the listen address or one of ``admin_allowed_hosts``.
* **CSRF**: a cross-site form or ``text/plain`` POST needs no CORS preflight. So a request
  with a foreign ``Origin`` is refused, and a state-changing one must carry
  ``X-Requested-With`` or ``Content-Type: application/json``, which a page on another
  origin can only send after a preflight this server does not grant.

With auth on, the token is the proof (a rebound page has none); ``admin_allowed_hosts``,
when set, is enforced there too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from bridge.access.policy import LOOPBACK_NAMES, Access, is_loopback

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """``example.com:8000`` → ``example.com``; ``[::1]:8000`` → ``::1``."""
    return (urlsplit("//" + host_header.strip()).hostname or "").lower()


def refusal(request: Request, access: Access) -> str | None:
    """Why this admin request is refused, or None."""
    settings = access.settings
    listed = {h.lower() for h in settings.admin_allowed_hosts}
    if not access.auth_enabled or listed:
        host = host_name(request.headers.get("host", ""))
        allowed = listed | LOOPBACK_NAMES | {settings.host.lower()}
        if "*" not in listed and host not in allowed and not is_loopback(host):
            return f"Host {host!r} is not allowed for the admin API (admin_allowed_hosts)"
    origin = request.headers.get("origin")
    if origin is not None and not access.origin_allowed(origin, request.headers.get("host")):
        return "this Origin may not use the admin API (allowed_origins)"
    if request.method not in SAFE_METHODS:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if "x-requested-with" not in request.headers and content_type != "application/json":
            return (
                "a state-changing admin request needs an X-Requested-With header or "
                "Content-Type: application/json"
            )
    return None
