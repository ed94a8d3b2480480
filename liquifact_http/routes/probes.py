"""Liveness and the API index. Liveness never touches a dependency."""

from __future__ import annotations

from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import Response

from liquifact_http.probe_bodies import ApiIndexBody, ApiLinks, HealthBody
from liquifact_http.routes.common import ignores_query, json_response, resource
from liquifact_http.wire import unstructure

API_VERSION = version("liquifact")


_ALIVE = unstructure(HealthBody("ok"))
_INDEX = unstructure(
    ApiIndexBody(
        name="LiquiFact API",
        version=API_VERSION,
        description="Invoice liquidity on Stellar: invoices, escrow and funding.",
        links=ApiLinks(
            self_="/v1",
            invoices="/v1/invoices",
            openapi="/openapi.json",
            docs="/docs",
            health="/health",
        ),
    )
)


@ignores_query
async def liveness(_request: Request) -> Response:
    return json_response(_ALIVE)


@ignores_query
async def api_index(_request: Request) -> Response:
    return json_response(_INDEX)


routes = [
    resource("/health", GET=liveness),
    resource("/healthz", GET=liveness),
    resource("/v1", GET=api_index),
]
