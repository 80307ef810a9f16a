"""The REST API's routes and its machine-readable documents (the ``/docs`` page is in pages/)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.rest.asyncapi import asyncapi_document
from bridge.rest.endpoints import ENDPOINTS
from bridge.rest.openapi import openapi_document


def root_path(request: Request) -> str:
    """The prefix the app is mounted under (``""`` at the root), without a trailing slash."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


async def openapi_json(request: Request) -> Response:
    return Response(
        orjson.dumps(openapi_document(root_path(request))), media_type="application/json"
    )


async def asyncapi_json(request: Request) -> Response:
    return Response(orjson.dumps(asyncapi_document()), media_type="application/json")


API_ROUTES: list[BaseRoute] = [
    *(endpoint.route() for endpoint in ENDPOINTS),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/asyncapi.json", asyncapi_json, methods=["GET"]),
]
