"""The REST plumbing: endpoint declarations (which also drive the OpenAPI document), the
request wrapper that turns every failure into problem+json, and conditional responses."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.errors import Error as NatsError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.access.http import authenticate_request
from bridge.access.principal import Principal
from bridge.errors import AccessDeniedError, RequestError, describe
from bridge.recovery.direct import DirectReader, HistoryError
from bridge.rest.problems import from_denied, from_error, problem
from bridge.rest.searchlimit import SearchLimiter
from bridge.runtime import Runtime
from schemas import ErrorCode

logger = logging.getLogger(__name__)

JSON = "application/json"
READ_METHODS = ("GET", "HEAD")
# Routed to the endpoint so that a wrong method gets a problem+json 405, not plain text.
ALL_METHODS = [*READ_METHODS, "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class RestState:
    """What the REST endpoints share per app, made on first use (the runtime owns the rest)."""

    nc: Any
    reader: DirectReader
    history_slots: asyncio.Semaphore
    searches: SearchLimiter


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    runtime: Runtime
    rest: RestState
    principal: Principal  # who asks: anonymous while auth is off
    params: Any  # an instance of the endpoint's query model, or None


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``GET`` route: served by :func:`serve`, described by ``bridge.rest.openapi``."""

    path: str
    operation_id: str
    summary: str
    description: str
    tag: str
    handler: Handler
    response: type[BaseModel]
    query: type[BaseModel] | None = None
    errors: tuple[ErrorCode, ...] = ()
    cached: bool = True  # ETag, Cache-Control, 304
    seq_headers: bool = False  # X-Stream-Seq / X-Stream-Epoch

    def route(self) -> Route:
        return Route(self.path, serve(self), methods=ALL_METHODS, name=self.operation_id)


def _rest_state(request: Request, runtime: Runtime) -> RestState:
    state: RestState | None = getattr(request.app.state, "rest", None)
    if state is None or state.nc is not runtime.nc:
        state = RestState(
            runtime.nc,
            DirectReader(runtime.nc),
            asyncio.Semaphore(runtime.settings.rest_history_concurrency),
            SearchLimiter(runtime.settings.rest_search_per_s, runtime.settings.rest_search_burst),
        )
        request.app.state.rest = state
    return state


def serve(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint_fn(request: Request) -> Response:
        if request.method not in READ_METHODS:
            return problem(
                request,
                ErrorCode.BAD_REQUEST,
                f"{request.method} is not allowed here; use GET",
                headers={"Allow": ", ".join(READ_METHODS)},
                status=405,
            )
        try:  # the same tokens as /ws; every market-data call needs md:read
            principal = await authenticate_request(request)
        except AccessDeniedError as exc:
            return from_denied(request, exc)
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None or not runtime.ready:
            return problem(
                request,
                ErrorCode.UNAVAILABLE,
                "not ready: starting, draining or reconnecting to NATS",
                headers={"Retry-After": "1"},
            )
        params = None
        if endpoint.query is not None:
            try:
                params = endpoint.query.model_validate(dict(request.query_params))
            except ValidationError as exc:
                return problem(request, ErrorCode.BAD_REQUEST, describe(exc))
        try:
            return await endpoint.handler(
                Call(request, runtime, _rest_state(request, runtime), principal, params)
            )
        except RequestError as exc:
            return from_error(request, exc)
        except (HistoryError, NatsError, TimeoutError) as exc:
            logger.warning("%s failed on NATS: %r", request.url.path, exc)
            return problem(
                request,
                ErrorCode.UNAVAILABLE,
                "the broker did not answer in time",
                headers={"Retry-After": "1"},
            )
        except Exception:
            logger.exception("%s failed", request.url.path)
            return problem(request, ErrorCode.INTERNAL, "internal error")

    return endpoint_fn


# -- conditional responses -------------------------------------------------------------------


def etag_of(*parts: str | int) -> str:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def cacheable(
    request: Request,
    body: bytes,
    *,
    max_age: int,
    etag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """200 with ETag and Cache-Control, or 304 when the client already has this version.

    Without ``etag`` the body's hash is the ETag.
    """
    tag = etag or etag_of(body.decode())
    all_headers = {"ETag": tag, "Cache-Control": f"private, max-age={max_age}", **(headers or {})}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, headers=all_headers, media_type=JSON)


def uncached(body: bytes) -> Response:
    return Response(body, headers={"Cache-Control": "no-cache"}, media_type=JSON)
