"""A bare Starlette app answering ``GET /health`` with the API's liveness body, served by the
same uvicorn configuration as ``liquifact serve`` (``liquifact_http.serving.uvicorn_config``;
for ``--workers`` > 1 the same supervisor and sockets, ``serving.supervise`` over
``serving.bind_sockets``): the bench's yardstick for what the API adds
per request (middleware, routing, logging) on its cheapest route.

    python bench/bare_app.py --port 8001 [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liquifact_http.serving import bind_sockets, supervise, uvicorn_config

BODY = json.dumps({"status": "ok"}, separators=(",", ":")).encode()


async def health(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def pid(_request: Request) -> Response:
    """Which process answered: the bench waits until every worker has."""
    return Response(str(os.getpid()), media_type="text/plain")


def create() -> Starlette:
    """The app (a factory, so uvicorn's supervisor can build one per worker process)."""
    return Starlette(routes=[Route("/health", health), Route("/pid", pid)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    config = uvicorn_config(
        create,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        shutdown_timeout_seconds=10,
        workers=args.workers,
        factory=True,
    )
    if args.workers == 1:
        uvicorn.Server(config).run()
        return
    supervise(config, bind_sockets(config, args.workers))


if __name__ == "__main__":
    main()
