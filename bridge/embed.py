"""Running the bridge inside an existing ASGI application (FastAPI, Starlette).

Neither FastAPI nor Starlette runs the lifespan of a mounted app, so the host enters the
bridge's lifespan from its own::

    md = create_app(BridgeSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with bridge_lifespan(md) as runtime:   # or bridge_lifespan(md, nc=host_nats)
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount("/md", md)            # /md/ws, /md/v1/..., /md/openapi.json, /md/docs

The bridge's own lifespan runs unchanged (same start-up, same shutdown). With ``nc`` it uses
the host's NATS connection and leaves it open on exit; without, it opens and drains its own,
which the host may use too (``runtime.nc``, ``runtime.js``).

Auth is shared the same way: ``Depends(principal_dependency(md))`` on a host route checks the
same tokens, with the same settings, as the bridge's ``/ws`` and REST API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from nats.aio.client import Client as NatsClient
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

from bridge.access.http import authenticate_request, denied_headers
from bridge.access.principal import Principal, Scope
from bridge.errors import AccessDeniedError, BridgeError
from bridge.runtime import Runtime


@asynccontextmanager
async def bridge_lifespan(
    app: Starlette, *, nc: NatsClient | None = None
) -> AsyncIterator[Runtime]:
    """Enter the lifespan of ``app`` (from :func:`bridge.create_app`) inside a host's."""
    app.state.host_nats = nc
    async with app.router.lifespan_context(app):
        yield app.state.runtime


def runtime_dependency(app: Starlette) -> Callable[[], Runtime]:
    """A dependency for the host's own routes: the bridge's runtime (hub, directory, NATS)."""

    def runtime() -> Runtime:
        found: Runtime | None = getattr(app.state, "runtime", None)
        if found is None:
            raise BridgeError("the bridge is not running: enter bridge_lifespan() in the host")
        return found

    return runtime


def principal_dependency(
    app: Starlette, scope: Scope | None = Scope.READ
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency for the host's own routes: the caller, by the bridge's access control.

    Refusals raise Starlette's HTTPException (401 with ``WWW-Authenticate``, or 403), which
    FastAPI and Starlette both answer.
    """

    async def principal(request: Request) -> Principal:
        try:
            return await authenticate_request(request, scope, access=app.state.access)
        except AccessDeniedError as exc:
            raise HTTPException(exc.http_status, exc.message, denied_headers(exc)) from None

    return principal
