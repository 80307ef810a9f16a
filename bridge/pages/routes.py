"""The pages people look at: the admin dashboard and the live quote board.

Plain HTML, CSS and hand-written JavaScript shipped inside the package (no build step, no
CDN): the dashboard polls ``/admin/stats``; the board is a WebSocket client of ``/ws``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


async def board(request: Request) -> Response:
    return FileResponse(STATIC / "board.html", media_type="text/html")


PAGE_ROUTES: list[BaseRoute] = [
    Route("/dashboard", dashboard),
    Route("/board", board),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
