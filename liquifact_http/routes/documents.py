"""Invoice documents: ``/v1/invoices/{id}/files`` (direct uploads, the list, signed download
URLs, confirming presigned uploads), ``/v1/sme/invoice/presigned-url`` (the spec's idempotent
presigned uploads) and ``/v1/objects/{token}`` (the local store's signed URLs, served here).

Bodies are streamed, never held whole: each chunk received goes to a temporary file (written
off the event loop), a multipart body through python-multipart's push parser; the use case
then measures and stores that file a chunk at a time. The body limit (BODY_LIMIT_INVOICE)
is enforced on the bytes received by the body-limit middleware, before any of this.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any, BinaryIO, cast

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from liquifact_adapters.storage import LocalObjectStore
from liquifact_core.documents import (
    CHUNK_BYTES,
    DocumentType,
    DownloadQuery,
    UnsupportedFileType,
    UploadQuery,
    UploadRequest,
    declared_type,
    media_type_of,
)
from liquifact_core.errors import FieldError, LiquifactError, NotFound, ValidationError
from liquifact_core.idempotency import IDEMPOTENCY_HEADER, parse_idempotency_key
from liquifact_core.services.documents import DirectUpload, DocumentService, documents_unavailable
from liquifact_http import document_bodies as bodies
from liquifact_http import problems, wire
from liquifact_http.bodies import read_object
from liquifact_http.callers import caller_of
from liquifact_http.problems import Problem
from liquifact_http.routes.common import (
    blocking,
    json_response,
    query,
    reads_query,
    resource,
    services,
)

FILES_PATH = "/v1/invoices/{id}/files"
PRESIGNED_PATH = "/v1/sme/invoice/presigned-url"
OBJECT_PATH = "/v1/objects/{token}"
REPLAYED_HEADER = "Idempotent-Replayed"
MULTIPART = "multipart/form-data"
_CORRELATION_ID = "correlation_id"
_INSTANCE = "instance"
_PRIMARY_MAX = 16  # bytes of the `primary` form field ("true" / "false")


def _documents(request: Request) -> DocumentService:
    documents = services(request).documents
    if documents is None or not documents.available:
        raise documents_unavailable()
    return documents


def _unsupported(error: UnsupportedFileType) -> Problem:
    return Problem(415, error.code, error.message)


def _base_url(request: Request) -> str:
    return str(request.base_url)


# ---- spooling a body ---------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def _spool() -> AsyncIterator[IO[bytes]]:
    """A temporary file on disk (never in memory), removed when the block ends."""
    spool = await blocking(tempfile.TemporaryFile)
    try:
        yield spool
    finally:
        await blocking(spool.close)


async def _write(spool: IO[bytes], pieces: list[bytes]) -> None:
    if pieces:
        data = b"".join(pieces)
        pieces.clear()
        await blocking(spool.write, data)


async def _spool_raw(request: Request, spool: IO[bytes]) -> int:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        await _write(spool, [chunk])
    await blocking(spool.seek, 0)
    return received


class _FormParts:
    """The callbacks of python-multipart's push parser for an upload form: exactly one part
    named ``file`` (with a file name and an allowed or undeclared type) and at most one
    ``primary`` field; anything else is refused as it is met. File bytes are handed over in
    ``pieces`` as they are parsed; nothing else of the file is kept."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.filename: str | None = None
        self.declared: DocumentType | None = None
        self.primary: bytes | None = None
        self.file_seen = False
        self._part: str | None = None
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self._headers, self._part = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition"))
        name = options.get(b"name", b"").decode("latin-1")
        if name == "file":
            if self.file_seen:
                raise _form_error("file", "must be sent once", "REPEATED_PARAMETER")
            self.file_seen = True
            self._part = "file"
            raw_name = options.get(b"filename")
            if raw_name is not None:
                try:
                    self.filename = raw_name.decode("utf-8")
                except UnicodeDecodeError:
                    raise _form_error(
                        "filename", "must be UTF-8 text", "INVALID_FILENAME"
                    ) from None
            try:
                self.declared = declared_type(self._headers.get("content-type"), undeclared_ok=True)
            except UnsupportedFileType as error:
                raise _unsupported(error) from None
        elif name == "primary" and self.primary is None:
            self._part = "primary"
            self.primary = b""
        else:
            raise _form_error(
                name or "(unnamed part)", "is not a field of this form", "UNKNOWN_FIELD"
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self.pieces.append(data[start:end])
        elif self._part == "primary":
            self.primary = (self.primary or b"") + data[start:end]
            if len(self.primary) > _PRIMARY_MAX:
                raise _form_error("primary", "must be true or false", "INVALID_VALUE")


def _form_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError(f"{field} {message}", field_errors=[FieldError(field, message, code)])


def _boundary(content_type: str) -> bytes:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise _form_error("Content-Type", "must name the multipart boundary", "INVALID_VALUE")
    return boundary


async def _spool_form(request: Request, spool: IO[bytes], content_type: str) -> _FormParts:
    parts = _FormParts()
    parser = MultipartParser(_boundary(content_type), cast(Any, parts.callbacks()))
    async for chunk in request.stream():
        try:
            parser.write(chunk)
        except (LiquifactError, Problem):
            raise
        except Exception:
            raise _form_error(
                "body", "is not a well-formed multipart form", "INVALID_VALUE"
            ) from None
        await _write(spool, parts.pieces)
    try:
        parser.finalize()
    except Exception:
        raise _form_error("body", "is not a well-formed multipart form", "INVALID_VALUE") from None
    if not parts.file_seen:
        raise _form_error("file", "is required", "REQUIRED")
    await blocking(spool.seek, 0)
    return parts


def _primary_flag(raw: bytes | str | None) -> bool | None:
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if text not in ("true", "false"):
        raise _form_error("primary", "must be true or false", "INVALID_VALUE")
    return text == "true"


# ---- /v1/invoices/{id}/files ------------------------------------------------------------------
@reads_query
async def upload_file(request: Request) -> Response:
    """A file as a multipart form (part ``file``, optional field ``primary``) or as the raw
    body (its Content-Type one of the allowed types); 201 with the stored file."""
    caller = caller_of(request)
    documents = _documents(request)
    wanted = query(request, UploadQuery)
    invoice_id = request.path_params["id"]
    content_type = request.headers.get("content-type", "")
    multipart = media_type_of(content_type) == MULTIPART
    declared: DocumentType | None = None
    if not multipart:
        try:
            declared = declared_type(content_type)
        except UnsupportedFileType as error:
            raise _unsupported(error) from None
    # Who may, and whether the invoice takes files, before a byte of the body is read.
    await blocking(documents.check_upload, caller.tenant_id, caller.actor, invoice_id)
    primary = None if wanted.primary is None else wanted.primary.value
    async with _spool() as spool:
        filename = wanted.filename
        if multipart:
            parts = await _spool_form(request, spool, content_type)
            declared = parts.declared
            filename = filename or parts.filename
            if parts.primary is not None:
                primary = parts.primary.decode("latin-1")
        else:
            await _spool_raw(request, spool)
        upload = DirectUpload(filename, declared, _primary_flag(primary))
        file = await blocking(
            documents.upload,
            caller.tenant_id,
            caller.actor,
            invoice_id,
            upload,
            cast(BinaryIO, spool),
        )
    return json_response(bodies.file_body(file), 201)


async def list_files(request: Request) -> Response:
    caller = caller_of(request)
    files = await blocking(
        _documents(request).list, caller.tenant_id, caller.actor, request.path_params["id"]
    )
    return json_response(bodies.file_list(files))


@reads_query
async def download_url(request: Request) -> Response:
    caller = caller_of(request)
    wanted = query(request, DownloadQuery)
    signed = await blocking(
        _documents(request).download_url,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
        request.path_params["fileId"],
        wanted.expires_in,
    )
    return json_response(wire.unstructure(bodies.SignedUrlBody.of(signed, _base_url(request))))


async def confirm_upload(request: Request) -> Response:
    caller = caller_of(request)
    wire.refuse_fields(await read_object(request, required=False))
    file = await blocking(
        _documents(request).confirm,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
        request.path_params["fileId"],
    )
    return json_response(bodies.file_body(file))


# ---- /v1/sme/invoice/presigned-url ------------------------------------------------------------
async def presigned_url(request: Request) -> Response:
    """The spec's presigned upload: Idempotency-Key required; a replay answers as the first
    request did (the same file id and URL, or the same problem), plus ``Idempotent-Replayed``."""
    caller = caller_of(request)
    key = parse_idempotency_key(request.headers.get(IDEMPOTENCY_HEADER))
    documents = _documents(request)
    upload = wire.structure(await read_object(request), UploadRequest)
    state = request.scope.get("state", {})
    context = {
        _CORRELATION_ID: str(state.get("correlation_id", "unknown")),
        _INSTANCE: str(state.get("original_path", request.url.path)),
    }
    try:
        outcome = await blocking(
            documents.request_upload,
            caller.tenant_id,
            caller.actor,
            upload,
            key,
            context=context,
        )
    except LiquifactError as error:
        if error.replayed_context is None:
            raise
        first = error.replayed_context
        response = problems.render(
            problems.problem_from_error(error), first[_CORRELATION_ID], first[_INSTANCE]
        )
        response.headers[REPLAYED_HEADER] = "true"
        return response
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    body = bodies.UploadTicketBody.of(outcome.ticket, _base_url(request))
    return json_response(wire.unstructure(body), 201, headers)


# ---- /v1/objects/{token}: the local store's signed URLs ---------------------------------------
def _local_store(request: Request) -> LocalObjectStore:
    store = services(request).objects
    if not isinstance(store, LocalObjectStore):
        raise Problem(404, "NOT_FOUND", "No resource at this path.")
    return store


def _not_stored() -> Problem:
    return Problem(404, "OBJECT_NOT_FOUND", "Nothing is stored at this URL.")


async def put_object(request: Request) -> Response:
    """One upload to a signed upload URL: exactly the size and type it was made for."""
    store = _local_store(request)
    access = store.access(request.path_params["token"], "PUT", services(request).clock.now())
    if media_type_of(request.headers.get("content-type")) != access.content_type:
        raise Problem(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Send this upload with Content-Type: {access.content_type}.",
        )
    size = access.size or 0
    declared = request.headers.get("content-length")
    if declared is not None and declared != str(size):
        raise _size_mismatch(size)
    async with _spool() as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > size:
                raise _size_mismatch(size)
            await _write(spool, [chunk])
        if received != size:
            raise _size_mismatch(size)
        await blocking(spool.seek, 0)
        # Never over an object already there (409 UPLOAD_EXISTS): a confirmed file stays
        # the bytes that were checked and attested for the rest of the URL's lifetime.
        await blocking(
            store.put,
            access.key,
            cast(BinaryIO, spool),
            size,
            access.content_type,
            replace=False,
        )
    return Response(status_code=204)


def _size_mismatch(size: int) -> ValidationError:
    return _form_error("body", f"must be exactly {size} bytes", "SIZE_MISMATCH")


async def get_object(request: Request) -> Response:
    """One download from a signed download URL: the file, as an attachment."""
    store = _local_store(request)
    access = store.access(request.path_params["token"], "GET", services(request).clock.now())
    # The file is opened before the headers promise its length: an open handle keeps reading
    # the same bytes even if the purge job unlinks the file meanwhile, so a download that has
    # started always completes, and one that has not answers 404.
    files = contextlib.ExitStack()
    try:
        reader = await blocking(files.enter_context, store.open(access.key))
    except NotFound:
        raise _not_stored() from None
    size = os.fstat(reader.fileno()).st_size

    def chunks() -> Iterator[bytes]:
        # Starlette iterates a plain iterator on its thread pool: file reads stay off the loop.
        with files:
            while chunk := reader.read(CHUNK_BYTES):
                yield chunk

    return StreamingResponse(
        chunks(),
        background=BackgroundTask(files.close),  # a body never started still closes the file
        media_type=access.content_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{access.filename or "file"}"',
            "Cache-Control": "private, no-store",
        },
    )


routes = [
    resource(FILES_PATH, GET=list_files, POST=upload_file),
    resource(f"{FILES_PATH}/{{fileId}}/download-url", GET=download_url),
    resource(f"{FILES_PATH}/{{fileId}}/confirm", POST=confirm_upload),
    resource(PRESIGNED_PATH, POST=presigned_url),
    resource(OBJECT_PATH, GET=get_object, PUT=put_object),
]
