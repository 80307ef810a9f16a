"""The pages people look at: the quote board, the dashboard, the API reference, the favicon.

Static HTML, CSS and JavaScript shipped inside the package; the charting and reference
libraries are vendored from npm at build time (``bridge/pages/vendor.py``), never a CDN.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bridge.pages.asyncapi import render_asyncapi
from bridge.pages.docs import render
from bridge.pages.vendor import missing
from bridge.rest.asyncapi import asyncapi_document
from bridge.rest.openapi import openapi_document
from bridge.rest.routes import root_path

STATIC = Path(__file__).parent / "static"


def _served(name: str) -> Response:
    """The page, or a plain 503 that says why when its libraries were never vendored."""
    absent = missing()
    if absent:
        text = (
            "<!doctype html><meta charset=utf-8><title>mdbridge: pages not built</title>"
            "<p>This page needs its browser libraries, which are installed at build time: "
            "run <code>make vendor</code> (or <code>python -m bridge.pages.vendor</code>, "
            f"which needs npm). Missing: {', '.join(absent)}.</p>"
        )
        return HTMLResponse(text, status_code=503)
    return FileResponse(STATIC / name, media_type="text/html")


def _page(name: str) -> Route:
    async def page(request: Request) -> Response:
        return _served(name)

    return Route(f"/{name.removesuffix('.html')}", page)


async def reference(request: Request) -> Response:
    return _served("reference.html")


async def protocol(request: Request) -> HTMLResponse:
    return HTMLResponse(render(openapi_document(root_path(request)), root_path(request)))


async def asyncapi(request: Request) -> HTMLResponse:
    return HTMLResponse(render_asyncapi(asyncapi_document(), root_path(request)))


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


PAGE_ROUTES: list[BaseRoute] = [
    _page("dashboard.html"),
    _page("board.html"),
    Route("/docs", reference),
    Route("/docs/protocol", protocol),
    Route("/docs/asyncapi", asyncapi),
    Route("/favicon.ico", favicon),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
