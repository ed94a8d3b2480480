"""Response bodies of the invoice document operations (``Representation``): the same classes
give the JSON and its schema in the document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from liquifact_core.documents import (
    FILE_ID_PATTERN,
    FILENAME_MAX,
    SHA256_PATTERN,
    DocumentType,
    FileStatus,
    InvoiceFile,
    SignedUrl,
    UploadTicket,
)
from liquifact_http.pages import PageMeta
from liquifact_http.representations import _at, timestamp
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure

_SHA256 = {"pattern": SHA256_PATTERN, "description": "SHA-256 of the file's bytes, hex."}


@attrs.frozen
class FileBody(Representation):
    """A document of an invoice."""

    component = "InvoiceFile"

    id: str = out({"pattern": FILE_ID_PATTERN})
    invoice_id: str = out(ref="InvoiceId")
    filename: str = out(
        {
            "minLength": 1,
            "maxLength": FILENAME_MAX,
            "description": "The name as stored: sanitised (characters outside "
            "[A-Za-z0-9._-] replaced by _, at most 100 characters).",
        }
    )
    content_type: str = out(
        {"enum": [kind.value for kind in DocumentType], "description": "By its magic bytes."}
    )
    size: int = out({"minimum": 1, "description": "Bytes (declared, while pending)."})
    sha256: str = out(_SHA256)
    status: str = out(
        {
            "enum": [status.value for status in FileStatus],
            "description": "`pending`: a presigned upload not confirmed yet; `stored`: counted.",
        }
    )
    primary: bool = out(
        {
            "description": "The invoice's primary document: its sha256 is the invoice's "
            "attestationDigest (requested, while pending)."
        }
    )
    uploaded_by: str = out({"description": "The principal that added it."})
    created_at: str = out(_at("When it was added or requested"))
    stored_at: str | None = out(_at("When it was stored (null while pending)"), nullable=True)

    @classmethod
    def of(cls, item: InvoiceFile) -> FileBody:
        return cls(
            id=item.id,
            invoice_id=item.invoice_id,
            filename=item.filename,
            content_type=item.content_type.value,
            size=item.size,
            sha256=item.sha256,
            status=item.status.value,
            primary=item.primary,
            uploaded_by=item.uploaded_by,
            created_at=timestamp(item.created_at),
            stored_at=None if item.stored_at is None else timestamp(item.stored_at),
        )


@attrs.frozen
class FileListBody(Representation):
    """An invoice's stored files, oldest first."""

    component = "InvoiceFileList"

    data: list[FileBody] = out()
    meta: PageMeta = out()


@attrs.frozen
class SignedUrlBody(Representation):
    """A short-lived URL to download one file."""

    component = "SignedDownloadUrl"

    url: str = out(
        {
            "minLength": 1,
            "description": "GET it before expiresAt: an S3 presigned URL, or this API's own "
            "/v1/objects/{token} (then on this API's origin). No other credential is needed.",
        }
    )
    expires_at: str = out(_at("When the URL stops working"))

    @classmethod
    def of(cls, item: SignedUrl, base_url: str) -> SignedUrlBody:
        return cls(url=absolute(item.url, base_url), expires_at=timestamp(item.expires_at))


@attrs.frozen
class UploadTicketBody(Representation):
    """Where to send a file's bytes, then how to count it for the invoice."""

    component = "PresignedUpload"

    invoice_id: str = out(ref="InvoiceId")
    file_id: str = out({"pattern": FILE_ID_PATTERN})
    upload_url: str = out(
        {
            "minLength": 1,
            "description": "PUT the file's bytes here before expiresAt, with the headers in "
            "uploadHeaders and exactly the declared size.",
        }
    )
    upload_method: str = out({"enum": ["PUT"]})
    upload_headers: dict[str, str] = out(keys=["Content-Type", "If-None-Match"])
    expires_at: str = out(_at("When the upload URL stops working (15 minutes)"))
    confirm_url: str = out(
        {
            "pattern": "^/v1/invoices/inv_[A-Za-z0-9_]{1,28}/files/fil_[A-Za-z0-9]{1,60}/confirm$",
            "description": "POST here once uploaded: the file counts for the invoice only "
            "after its size, type and SHA-256 are checked.",
        }
    )
    file: FileBody = out()

    @classmethod
    def of(cls, item: UploadTicket, base_url: str) -> UploadTicketBody:
        file = item.file
        return cls(
            invoice_id=file.invoice_id,
            file_id=file.id,
            upload_url=absolute(item.upload_url, base_url),
            upload_method=item.upload_method,
            upload_headers=dict(item.upload_headers),
            expires_at=timestamp(item.expires_at),
            confirm_url=f"/v1/invoices/{file.invoice_id}/files/{file.id}/confirm",
            file=FileBody.of(file),
        )


def absolute(url: str, base_url: str) -> str:
    """A store's URL as a client uses it: this API's own (``/v1/objects/...``) on the origin
    the request came to (scheme and host, as TRUST_PROXY lets the proxy name them)."""
    return base_url.rstrip("/") + url if url.startswith("/") else url


def file_body(item: InvoiceFile) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(FileBody.of(item))
    return body


def file_list(items: Sequence[InvoiceFile]) -> dict[str, Any]:
    body: dict[str, Any] = unstructure(
        FileListBody([FileBody.of(item) for item in items], PageMeta.whole(len(items)))
    )
    return body
