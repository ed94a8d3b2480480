"""The OpenAPI entries of invoice documents (issue 14): uploads, the list, signed URLs, the
spec's presigned uploads and the local store's object URLs. Built with the helpers of
``liquifact_http.openapi``, which merges these into the document."""

from __future__ import annotations

from liquifact_adapters.storage import TOKEN_MAX, TOKEN_PATTERN
from liquifact_core.documents import (
    FILE_ID_PATTERN,
    DocumentType,
    DownloadQuery,
    UploadQuery,
    UploadRequest,
)
from liquifact_http import document_bodies as bodies
from liquifact_http.openapi import (
    JSON,
    Component,
    Object,
    _headers,
    _json_response,
    _operation,
    _schema,
    response,
)
from liquifact_http.openapi_auth import _errors
from liquifact_http.routes.documents import FILES_PATH, OBJECT_PATH, PRESIGNED_PATH
from liquifact_http.settings import Settings

TAG = "Invoice documents"
TAGS = [
    {
        "name": TAG,
        "description": "Invoice files (PDF, JPEG, PNG, TIFF): uploads, presigned uploads, "
        "signed download URLs. See docs/documents.md.",
    }
]
_LIMIT = Settings().body_limit_invoice
_TYPES = [kind.value for kind in DocumentType]
_BINARY = {"type": "string", "format": "binary"}
_STORE_DOWN = "The data store or the document storage is unavailable; retry later."
_NOT_FOUND = (
    "No invoice with this id is visible to the caller: only the invoice's SME and the "
    "tenant's operators reach its files (anyone else gets this same 404)."
)
_NO_FILE = f"{_NOT_FOUND} Or the invoice has no such stored file (FILE_NOT_FOUND)."
_CLOSED = (
    "The invoice takes no more files: it is in a terminal state (INVOICE_FILES_CLOSED) or holds "
    "20 already (TOO_MANY_FILES); or a primary document was asked for after the invoice was "
    "linked to its escrow (ATTESTATION_FROZEN)."
)
_BAD = (
    "An invalid invoice or file id, query parameter or field. For an upload, the file's "
    "content decides its type: FILE_CONTENT_NOT_ALLOWED (its magic bytes are not a PDF, JPEG, "
    "PNG or TIFF file: a renamed .exe is refused), FILE_CONTENT_MISMATCH (another allowed "
    "type than the declared one), FILE_EMPTY, FILE_TOO_LARGE; a file name that is a path or "
    "holds NUL is INVALID_FILENAME / INVALID_TEXT."
)
_SIGNED = (
    "The URL's signature is not valid (SIGNED_URL_INVALID: tampered, for another method) or "
    "it expired (SIGNED_URL_EXPIRED)."
)


def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(bodies.FileBody, "A document of an invoice."),
        **response(bodies.FileListBody, "An invoice's stored files, oldest first."),
        **response(bodies.SignedUrlBody, "A short-lived URL to download one file."),
        **response(
            bodies.UploadTicketBody,
            "A presigned upload: PUT the bytes to uploadUrl, then POST confirmUrl.",
        ),
        "PresignedUploadRequest": Component(
            UploadRequest,
            "The file to upload: its invoice, name, type, exact size and SHA-256; they are "
            "checked again when the upload is confirmed.",
        ),
    }


def parameters() -> Object:
    return {
        "FileId": {
            "name": "fileId",
            "in": "path",
            "required": True,
            "description": "A file's id (else 400 INVALID_ID).",
            "schema": {"type": "string", "pattern": FILE_ID_PATTERN, "maxLength": 64},
        },
        "ObjectToken": {
            "name": "token",
            "in": "path",
            "required": True,
            "description": "The signed token of a URL this API handed out.",
            "schema": {"type": "string", "pattern": TOKEN_PATTERN, "maxLength": TOKEN_MAX},
        },
    }


def headers() -> Object:
    return {
        "ContentDisposition": {
            "description": '`attachment; filename="<stored name>"`.',
            "required": True,
            "schema": {"type": "string", "pattern": '^attachment; filename="[A-Za-z0-9._-]+"$'},
        },
    }


def _upload_body() -> Object:
    form = {
        "type": "object",
        "properties": {
            "file": {**_BINARY, "description": "The file; its part's filename is its name."},
            "primary": {
                "type": "string",
                "enum": ["true", "false"],
                "description": "Make it the invoice's primary document (default: when it has "
                "none yet and is pending or approved).",
            },
        },
        "required": ["file"],
        "additionalProperties": False,
    }
    content: Object = {
        "multipart/form-data": {
            "schema": form,
            "encoding": {"file": {"contentType": ", ".join([*_TYPES, "application/octet-stream"])}},
        }
    }
    content.update({kind: {"schema": _BINARY} for kind in _TYPES})
    return {"required": True, "content": content}


def _file(description: str, status: int = 200) -> Object:
    return {str(status): _json_response(description, _schema("InvoiceFile"))}


_FILE_PARAMETERS = ("TenantId", "InvoiceId")


def paths() -> Object:
    replayed = {"Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"}}
    presigned_responses = {
        "201": _json_response(
            "The pending file and its upload URL (valid 15 minutes). A replay of the same "
            "key and body answers the first response again, with Idempotent-Replayed: true.",
            _schema("PresignedUpload"),
        ),
        **_errors(
            {
                400: f"{_BAD} Or a missing or malformed Idempotency-Key.",
                404: _NOT_FOUND,
                409: f"{_CLOSED} Or the Idempotency-Key was used for another request "
                "(IDEMPOTENCY_KEY_REUSED), or that request is still running "
                "(IDEMPOTENCY_REQUEST_IN_PROGRESS, retryable).",
                413: "The request body is too large.",
                415: "The body is not sent as application/json.",
                503: _STORE_DOWN,
            }
        ),
    }
    for status in ("201", "400", "404", "409"):
        presigned_responses[status]["headers"].update(replayed)
    object_ok = {
        "description": "The file.",
        "headers": {
            **_headers(),
            "Content-Disposition": {"$ref": "#/components/headers/ContentDisposition"},
        },
        "content": {kind: {"schema": _BINARY} for kind in _TYPES},
    }
    return {
        FILES_PATH: {
            "get": _operation(
                "listInvoiceFiles",
                "List an invoice's files",
                TAG,
                {
                    "200": _json_response("The stored files.", _schema("InvoiceFileList")),
                    **_errors({400: "An invalid invoice id.", 404: _NOT_FOUND, 503: _STORE_DOWN}),
                },
                description="Pending presigned uploads are not listed until confirmed.",
                parameters=_FILE_PARAMETERS,
            ),
            "post": _operation(
                "uploadInvoiceFile",
                "Upload a file to an invoice",
                TAG,
                {
                    **_file("The stored file: its measured size and SHA-256.", 201),
                    **_errors(
                        {
                            400: _BAD,
                            404: _NOT_FOUND,
                            409: _CLOSED,
                            413: f"The body is over BODY_LIMIT_INVOICE ({_LIMIT} bytes by "
                            "default), counted in body_size_limit_rejections_total"
                            '{type="invoice"}.',
                            415: "The Content-Type (or the file part's) is not one of "
                            "application/pdf, image/jpeg, image/png, image/tiff "
                            "(UNSUPPORTED_MEDIA_TYPE); nothing was stored.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="As a multipart form (part `file`, optional field `primary`) or "
                "as the raw body with the file's own Content-Type. The body is streamed to "
                "disk, never held in memory; its magic bytes must be an allowed type (and the "
                "declared one). The first file of a pending or approved invoice becomes its "
                "primary document: the invoice's attestationDigest is its SHA-256. Audited "
                "as `invoice.file_added` (and `invoice.attestation_set`).",
                parameters=_FILE_PARAMETERS,
                request_body=_upload_body(),
                query=UploadQuery,
                query_notes={
                    "filename": "The name of a raw body (default `upload` and the type's "
                    "extension); for a form, it replaces the part's filename.",
                    "primary": "Make it the primary document.",
                },
            ),
        },
        f"{FILES_PATH}/{{fileId}}/download-url": {
            "get": _operation(
                "getInvoiceFileDownloadUrl",
                "A signed download URL",
                TAG,
                {
                    "200": _json_response("The URL.", _schema("SignedDownloadUrl")),
                    **_errors({400: _BAD, 404: _NO_FILE, 503: _STORE_DOWN}),
                },
                description="Valid `expiresIn` seconds: 1 hour by default, 24 hours at most "
                "(outside 1-86400: 400).",
                parameters=(*_FILE_PARAMETERS, "FileId"),
                query=DownloadQuery,
                query_notes={"expiresIn": "Seconds the URL stays valid."},
            )
        },
        f"{FILES_PATH}/{{fileId}}/confirm": {
            "post": _operation(
                "confirmInvoiceFile",
                "Confirm a presigned upload",
                TAG,
                {
                    **_file("The stored file (also when it was confirmed already)."),
                    **_errors(
                        {
                            400: _BAD,
                            404: _NO_FILE,
                            409: "Nothing was uploaded yet (UPLOAD_NOT_FOUND), the upload "
                            "expired (UPLOAD_EXPIRED), or ATTESTATION_FROZEN.",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            422: "What was uploaded is not what was declared (UPLOAD_MISMATCH; "
                            "`errors` names size, sha256 and/or contentType). It was discarded: "
                            "upload the declared file again before the URL expires.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Checks the uploaded object's size, SHA-256 and magic bytes "
                "against the request; only then does the file count for the invoice. The "
                "body may be omitted or `{}`.",
                parameters=(*_FILE_PARAMETERS, "FileId"),
                request_body={
                    "required": False,
                    "content": {JSON: {"schema": _schema("EmptyBody")}},
                },
            )
        },
        PRESIGNED_PATH: {
            "post": _operation(
                "createPresignedUpload",
                "Request a presigned upload URL",
                TAG,
                presigned_responses,
                description="The spec's presigned upload: Idempotency-Key is required (the "
                "same key and body give back the same file id and URL; another body: 409). "
                "Unsupported types are refused before anything is stored. PUT the file to "
                "`uploadUrl` with `uploadHeaders`, then POST `confirmUrl`. Unconfirmed "
                "uploads are removed after their deadline.",
                parameters=("TenantId", "IdempotencyKey"),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("PresignedUploadRequest")}},
                },
            )
        },
        OBJECT_PATH: {
            "get": _operation(
                "getSignedObject",
                "Download through a signed URL",
                TAG,
                {
                    "200": object_ok,
                    **_errors(
                        {
                            400: "An invalid token.",
                            403: _SIGNED,
                            404: "The local store is not in use, or the file is gone.",
                        }
                    ),
                },
                description="What `/download-url` hands out when documents are stored locally; "
                "the token is the only credential.",
                parameters=("ObjectToken",),
            ),
            "put": _operation(
                "putSignedObject",
                "Upload through a signed URL",
                TAG,
                {
                    "204": {"description": "Stored; now confirm it.", "headers": _headers()},
                    **_errors(
                        {
                            400: "An invalid token, or a body that is not exactly the declared "
                            "size (SIZE_MISMATCH).",
                            403: _SIGNED,
                            404: "The local store is not in use.",
                            409: "Something was already uploaded to this URL "
                            "(UPLOAD_EXISTS): confirm it; a mismatched upload is discarded "
                            "at confirmation and the URL takes another.",
                            413: f"The body is over BODY_LIMIT_INVOICE ({_LIMIT} bytes by "
                            "default).",
                            415: "The Content-Type is not the one the URL was made for.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="What the presigned-url operation hands out when documents are "
                "stored locally; the token is the only credential.",
                parameters=("ObjectToken",),
                request_body={
                    "required": True,
                    "content": {kind: {"schema": _BINARY} for kind in _TYPES},
                },
            ),
        },
    }
