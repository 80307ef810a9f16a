"""RFC 9457 problem details for the REST API, with the same error codes as the WebSocket."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.access.http import denied_headers
from bridge.errors import AccessDeniedError, RequestError
from schemas import ErrorCode

PROBLEM_JSON = "application/problem+json"

# code → (HTTP status, what it means); the docs page lists these under #problem-<CODE>.
PROBLEMS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.BAD_REQUEST: (400, "a parameter or frame is malformed or out of range"),
    ErrorCode.UNKNOWN_SYMBOL: (404, "no such symbol; `suggestions` lists close matches"),
    ErrorCode.UNKNOWN_SUBSCRIPTION: (404, "no such subscription on this connection"),
    ErrorCode.UNKNOWN_CONNECTION: (404, "no such connection (admin API)"),
    ErrorCode.NOT_FOUND: (404, "no such resource, or nothing published for it yet"),
    ErrorCode.SUBSCRIPTION_LIMIT: (429, "too many subscriptions; `limit` has the value"),
    ErrorCode.DURABLE_LIMIT: (429, "too many ack-mode durables; `limit` has the value"),
    ErrorCode.RATE_LIMITED: (429, "too many requests; back off"),
    ErrorCode.CONNECTION_LIMIT: (503, "too many connections; retry after `Retry-After`"),
    ErrorCode.UNAUTHORIZED: (401, "missing, invalid or expired token"),
    ErrorCode.FORBIDDEN: (403, "the token does not allow this"),
    ErrorCode.UNSUPPORTED: (501, "not enabled on this server"),
    ErrorCode.FRAME_TOO_LARGE: (413, "the request is larger than allowed"),
    ErrorCode.UNAVAILABLE: (503, "the server is starting, draining or lost its broker"),
    ErrorCode.INTERNAL: (500, "a bug on our side; it is logged"),
}


def status_of(code: ErrorCode) -> int:
    return PROBLEMS.get(code, (500, ""))[0]


def docs_url(request: Request) -> str:
    """Where this app's docs page is, also when mounted under a prefix."""
    return f"{request.scope.get('root_path', '')}/docs"


def problem(
    request: Request,
    code: ErrorCode,
    detail: str,
    *,
    suggestions: list[str] | None = None,
    limit: tuple[str, int] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
) -> Response:
    status = status or status_of(code)
    body: dict[str, Any] = {
        "type": f"{docs_url(request)}#problem-{code.value}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code.value,
    }
    if suggestions is not None:
        body["suggestions"] = suggestions
    if limit is not None:
        body["limit"] = {"name": limit[0], "value": limit[1]}
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def from_error(request: Request, exc: RequestError) -> Response:
    return problem(request, exc.code, exc.message, suggestions=exc.suggestions, limit=exc.limit)


def from_denied(request: Request, exc: AccessDeniedError) -> Response:
    """Refused by access control: 401, 403, 429 or 503, as problem details."""
    return problem(
        request,
        exc.code,
        exc.message,
        limit=exc.limit,
        headers=denied_headers(exc),
        status=exc.http_status,
    )
