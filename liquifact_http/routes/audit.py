"""``GET /v1/admin/audit/invoices/{invoiceId}/export`` (the spec's
``/api/admin/audit/invoices/:invoiceId/export``): an invoice's audit trail, as JSON pages
(``format=json``, the default) or as one CSV file streamed from a database cursor
(``format=csv``). Admins only; the tenant is the caller's, and it is in every query.

CSV streaming, the spec's pipeline in ASGI terms: the read unit and its cursor are opened, and
the first chunk fetched, before anything is sent, so access, store and query failures are
ordinary problem answers. Then the status and headers go out, and each chunk is fetched (in
the thread pool), rendered (``liquifact_core.audit_export.CsvRows``) and sent as one body
part: memory holds one chunk, whatever the trail's length. A client that disconnects stops the
stream at the next chunk. A failure after the headers were sent cannot become a problem
answer any more: the stream is abandoned without its final chunk, so the server closes the
connection and the client sees a truncated download (never a complete-looking file), and the
cursor and unit are closed either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from liquifact_core.audit_export import (
    AuditExportQuery,
    AuditRecord,
    CsvRows,
    ExportFormat,
    export_file_name,
)
from liquifact_http.callers import caller_of
from liquifact_http.compliance_bodies import AuditPageBody
from liquifact_http.logs import get_logger
from liquifact_http.routes.common import (
    blocking,
    json_response,
    query,
    reads_query,
    resource,
    services,
)
from liquifact_http.wallet_bodies import body as render

EXPORT_PATH = "/v1/admin/audit/invoices/{invoiceId}/export"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_log = get_logger("liquifact.audit")

Chunks = Iterator[Sequence[AuditRecord]]


def _csv_bytes(first: Sequence[AuditRecord], chunks: Chunks) -> Iterator[bytes]:
    """The file: the header row and the first chunk, then one part per further chunk."""
    rows = CsvRows()
    yield (rows.header() + rows.rows(first)).encode("utf-8")
    for chunk in chunks:
        yield rows.rows(chunk).encode("utf-8")


class CsvStreamResponse(Response):
    """Sends ``parts`` (a blocking iterator, advanced in the thread pool) as a chunked body,
    then calls ``close`` (in the thread pool, shielded from cancellation) however the stream
    ended: completed, client gone, or failed."""

    def __init__(
        self, parts: Iterator[bytes], close: Callable[[], Any], headers: dict[str, str]
    ) -> None:
        super().__init__(status_code=200, headers=headers, media_type=CSV_MEDIA_TYPE)
        # The length is unknown: the body goes out in chunks (Transfer-Encoding: chunked).
        del self.headers["content-length"]
        self._parts = parts
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    await self._stream(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                await _wait_for_disconnect(receive)
                group.cancel_scope.cancel()  # the client left: stop at the next chunk
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._close)

    async def _stream(self, send: Send) -> None:
        try:
            while True:
                part = await run_in_threadpool(next, self._parts, None)
                if part is None:
                    break
                await send({"type": "http.response.body", "body": part, "more_body": True})
        except Exception as error:  # after the headers: abandon, never "complete"
            _log.warning("audit_export_interrupted", error_type=type(error).__name__)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


@reads_query
async def export_invoice_audit(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, AuditExportQuery)
    invoice_id = request.path_params["invoiceId"]
    audit = services(request).audit
    if wanted.format is ExportFormat.JSON:
        page = await blocking(audit.export_page, caller.tenant_id, caller.actor, invoice_id, wanted)
        return json_response(render(AuditPageBody.of(page)))
    opened: AbstractContextManager[Chunks] = audit.export_stream(
        caller.tenant_id, caller.actor, invoice_id
    )
    chunks = await blocking(opened.__enter__)  # access, id and store checks: problems
    try:
        nothing: Sequence[AuditRecord] = ()
        first = await blocking(next, chunks, nothing)  # the query runs: its failures too
    except BaseException as error:
        await blocking(opened.__exit__, type(error), error, error.__traceback__)
        raise

    def close() -> None:
        opened.__exit__(None, None, None)

    disposition = f'attachment; filename="{export_file_name(invoice_id)}"'
    return CsvStreamResponse(
        _csv_bytes(first, chunks), close, headers={"Content-Disposition": disposition}
    )


routes = [resource(EXPORT_PATH, GET=export_invoice_audit)]
