"""Access control for REST routes: the same tokens as ``/ws``, and CORS for browsers.

Use in a Starlette endpoint either way::

    @require_scope(Scope.ADMIN)
    async def drain(request: Request) -> Response:
        principal = request.state.principal
        ...

    async def quotes(request: Request) -> Response:
        principal = await authenticate_request(request)  # raises AccessDeniedError
        ...

Health endpoints (``/healthz``, ``/readyz``) stay open.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.access.policy import Access, bearer_token
from bridge.access.principal import Principal, Scope
from bridge.errors import AccessDeniedError
from bridge.settings import BridgeSettings

Endpoint = Callable[[Request], Awaitable[Response]]


async def authenticate_request(
    request: Request, scope: Scope | None = Scope.READ, access: Access | None = None
) -> Principal:
    """The request's principal (anonymous while auth is off); raises AccessDeniedError.

    ``access`` defaults to the app's; a host app serving its own routes passes the bridge's.
    """
    access = access or request.app.state.access
    principal = access.authenticate(
        bearer_token(request.headers, request.query_params) if access.auth_enabled else None
    )
    if scope is not None:
        access.require(principal, scope)
    request.state.principal = principal
    return principal


def denied_headers(denied: AccessDeniedError) -> dict[str, str]:
    """``WWW-Authenticate`` on a 401, ``Retry-After`` when the refusal says when to retry."""
    headers: dict[str, str] = {}
    if denied.http_status == 401:
        description = denied.reason.replace('"', "'")
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{description}"'
        )
    if denied.retry_after_ms is not None:
        headers["Retry-After"] = str(max(1, -(-denied.retry_after_ms // 1000)))
    return headers


def denied_response(denied: AccessDeniedError) -> JSONResponse:
    """401/403/429/503 with the same ``code`` and ``message`` a WebSocket client would see."""
    body: dict[str, object] = {"code": denied.code.value, "message": denied.message}
    if denied.retry_after_ms is not None:
        body["retry_after_ms"] = denied.retry_after_ms
    return JSONResponse(body, status_code=denied.http_status, headers=denied_headers(denied))


def require_scope(scope: Scope | None = Scope.READ) -> Callable[[Endpoint], Endpoint]:
    """Wrap an endpoint: authenticate, require ``scope`` (None: any valid token), then call it."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            try:
                await authenticate_request(request, scope)
            except AccessDeniedError as exc:
                return denied_response(exc)
            return await endpoint(request)

        return guarded

    return decorate


@require_scope(None)
async def whoami(request: Request) -> Response:
    """What the presented token grants: subject, scopes, symbols, limits, tier, expiry."""
    principal: Principal = request.state.principal
    access: Access = request.app.state.access
    return JSONResponse({**principal.describe(), "limits": access.limits(principal)})


ROUTES = [Route("/v1/auth/whoami", whoami)]


def cors_middleware(settings: BridgeSettings) -> list[Middleware]:
    """CORS for the REST API from ``allowed_origins`` (nothing when the list is empty)."""
    if not settings.allowed_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=[o.rstrip("/") for o in settings.allowed_origins],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    ]
