"""Every HTTP route beside ``/ws``: the REST API and its open documents (one list for app.py).

The pages that show the documents to people are in ``bridge.pages``.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.rest.asyncapi import asyncapi_document
from bridge.rest.endpoints import ENDPOINTS
from bridge.rest.openapi import openapi_document


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


async def openapi_json(request: Request) -> Response:
    return Response(orjson.dumps(openapi_document(_root(request))), media_type="application/json")


async def asyncapi_json(request: Request) -> Response:
    return Response(orjson.dumps(asyncapi_document()), media_type="application/json")


API_ROUTES: list[BaseRoute] = [
    *(endpoint.route() for endpoint in ENDPOINTS),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/asyncapi.json", asyncapi_json, methods=["GET"]),
]
