"""The pages people look at: the API documentation, the admin dashboard, the live quote board.

Plain HTML, CSS and hand-written JavaScript shipped inside the package (no build step, no
CDN): the dashboard polls ``/admin/stats``; the board is a WebSocket client of ``/ws``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bridge.pages.docs import render
from bridge.rest.openapi import openapi_document
from bridge.rest.routes import root_path

STATIC = Path(__file__).parent / "static"


async def docs(request: Request) -> HTMLResponse:
    root = root_path(request)
    return HTMLResponse(render(openapi_document(root), root))


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


async def board(request: Request) -> Response:
    return FileResponse(STATIC / "board.html", media_type="text/html")


PAGE_ROUTES: list[BaseRoute] = [
    Route("/docs", docs, methods=["GET"]),
    Route("/dashboard", dashboard),
    Route("/board", board),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
