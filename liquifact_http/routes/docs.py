"""The OpenAPI document and Swagger UI, served from the swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from liquifact_http.openapi import openapi_document
from liquifact_http.routes.common import ignores_query, json_text, resource

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>LiquiFact API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
# Kept in its own file so the Content-Security-Policy needs no 'unsafe-inline' for scripts.
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]});
"""


@cache
def _openapi_bytes() -> bytes:
    # The document never changes while the process runs; encoding it (~0.9 MB) took ~50 ms
    # of the event loop on every request.
    return json_text(openapi_document()).encode("utf-8")


@ignores_query
async def openapi_json(_request: Request) -> Response:
    return Response(_openapi_bytes(), media_type="application/json")


@ignores_query
async def swagger_page(_request: Request) -> Response:
    return HTMLResponse(_PAGE)


@ignores_query
async def swagger_init(_request: Request) -> Response:
    return Response(_INIT, media_type="application/javascript")


routes = [
    resource("/openapi.json", GET=openapi_json),
    resource("/docs", GET=swagger_page),
    resource("/docs/init.js", GET=swagger_init),
    Mount("/docs/static", app=StaticFiles(directory=swagger_ui_path), name="swagger-static"),
]
