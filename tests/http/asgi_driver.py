"""Drive an ASGI app with hand-made scopes and body chunks (what a test client cannot send:
a lying Content-Length, chunked bodies without one, raw header casing, any socket address)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import attrs
from starlette.types import ASGIApp, Message


@attrs.define
class Exchange:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    chunks: Sequence[bytes] = (),
    client: tuple[str, int] | None = ("203.0.113.9", 40000),
    query: str = "",
) -> Exchange:
    """One request; ``chunks`` are sent as separate ``http.request`` messages."""
    pending = list(chunks) or [b""]
    read = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        if not pending:
            await asyncio.sleep(3600)  # a client that sends nothing more
        read += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": client,
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Exchange(
        start["status"],
        {k.decode().lower(): v.decode() for k, v in start["headers"]},
        body,
        read,
    )
