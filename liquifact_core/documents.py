"""Invoice documents: the rules of files attached to an invoice (pure; no storage here).

The spec's object layout and upload rules, stated once:

* Object keys are ``tenants/{tenantId}/invoices/{invoiceId}/{uuid}-{filename}``
  (``object_key``): tenant and invoice ids must be 1-128 of ``[A-Za-z0-9_-]`` (so
  ``tenant/admin``, ``inv/123`` or ``../../admin`` never reach a key), the UUID makes every key
  unguessable and unique, and the file name is the sanitised one (``sanitize_filename``).
* Sanitising a file name (the storage layer's rule, the spec's list): NUL characters are
  removed, a path (``../../etc/passwd``, ``..\\..\\windows\\system32``, anything with a ``/`` or
  ``\\``) is rejected, every character outside ``[A-Za-z0-9._-]`` becomes ``_``, leading and
  trailing dots go (a name left with no letter or digit becomes ``file``), and a long name is
  truncated to ``STORED_NAME_MAX`` characters keeping its extension.
* The API is stricter than the storage layer: a name it is sent must already be a file name
  (``FileName``: text rules, no NUL or other control character, no separator, not ``.`` or
  ``..``), then it is sanitised for storage.
* Allowed types (``DocumentType``): PDF, JPEG, PNG and TIFF, recognised by the file's first
  bytes (``sniff``), never by the declared media type alone.
* URL lifetimes: upload URLs live ``UPLOAD_URL_TTL`` (15 minutes); download URLs
  ``DOWNLOAD_URL_DEFAULT`` (1 hour) unless asked otherwise, at most ``DOWNLOAD_URL_MAX``
  (24 hours).
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from liquifact_core import validation as v
from liquifact_core.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unprocessable,
    ValidationError,
)
from liquifact_core.lifecycle import TERMINAL, InvoiceStatus
from liquifact_core.rules import (
    Checked,
    Flag,
    Integer,
    InvoiceId,
    OneOf,
    Pattern,
    QueryInteger,
    query_error,
    rule_field,
)

FILE_ID_PREFIX = "fil_"
FILE_ID_PATTERN = "^fil_[A-Za-z0-9]{1,60}$"
_FILE_ID = re.compile(FILE_ID_PATTERN[1:-1])
SHA256_PATTERN = "^[0-9a-f]{64}$"
# A key segment (tenant or invoice id): the spec's allowed characters.
KEY_SEGMENT_PATTERN = "^[A-Za-z0-9_-]{1,128}$"
_KEY_SEGMENT = re.compile(KEY_SEGMENT_PATTERN[1:-1])
FILENAME_MAX = 255  # what the API accepts
STORED_NAME_MAX = 100  # what the storage layer keeps (extension included)
_EXTENSION_MAX = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RUNS = re.compile(r"_{2,}")
_ALNUM = re.compile(r"[A-Za-z0-9]")
# How many bytes ``sniff`` needs; the upload paths keep at least this much of the head.
SNIFF_BYTES = 8
CHUNK_BYTES = 64 * 1024  # how much of a file is read at once (never the whole file)
MAX_FILES_PER_INVOICE = 20
# The largest size a declared upload may name at all; the deployment's limit
# (BODY_LIMIT_INVOICE) is lower and is what the use cases enforce.
DECLARED_SIZE_MAX = 1024**3

UPLOAD_URL_TTL = timedelta(minutes=15)
# A presigned upload may still be confirmed this long after its URL expired (a slow client's
# PUT may finish after the expiry it started before); then it is swept away.
CONFIRM_GRACE = timedelta(minutes=15)
DOWNLOAD_URL_DEFAULT_SECONDS = 3600
DOWNLOAD_URL_MAX_SECONDS = 86_400

# The invoice states whose primary document (its attestation digest) may still change: once
# an escrow is linked, the contract's bind_primary_attestation_hash may have bound it (once).
ATTESTATION_OPEN = frozenset({InvoiceStatus.PENDING, InvoiceStatus.APPROVED})

# Background jobs (liquifact_core.jobs) of this module, run by the worker.
FILE_UPLOAD_EXPIRY = "documents.upload_expiry"
INVOICE_FILES_PURGE = "documents.invoice_purge"


class DocumentType(enum.StrEnum):
    """An allowed invoice document type, by media type."""

    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"
    TIFF = "image/tiff"

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self]


_EXTENSIONS = {
    DocumentType.PDF: ".pdf",
    DocumentType.JPEG: ".jpg",
    DocumentType.PNG: ".png",
    DocumentType.TIFF: ".tiff",
}
# First bytes of each type (magic numbers). TIFF: classic and BigTIFF, both byte orders.
_SIGNATURES: tuple[tuple[bytes, DocumentType], ...] = (
    (b"%PDF-", DocumentType.PDF),
    (b"\xff\xd8\xff", DocumentType.JPEG),
    (b"\x89PNG\r\n\x1a\n", DocumentType.PNG),
    (b"II*\x00", DocumentType.TIFF),
    (b"MM\x00*", DocumentType.TIFF),
    (b"II+\x00", DocumentType.TIFF),
    (b"MM\x00+", DocumentType.TIFF),
)
# A multipart part sent without a specific type (what browsers send for an unknown
# extension): the bytes decide.
UNDECLARED_TYPES = frozenset({"application/octet-stream"})


def sniff(head: bytes) -> DocumentType | None:
    """The allowed type the file starting with ``head`` is, by its magic bytes; None for
    anything else (an ``.exe`` renamed ``invoice.pdf`` starts ``MZ``: None)."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def media_type_of(raw: str | None) -> str:
    """The bare, lower-cased media type of a ``Content-Type`` value (parameters dropped)."""
    return (raw or "").split(";", 1)[0].strip().lower()


def declared_type(raw: str | None, *, undeclared_ok: bool = False) -> DocumentType | None:
    """The allowed type a ``Content-Type`` names; None for an undeclared one
    (``application/octet-stream``, only if ``undeclared_ok``). UnsupportedFileType otherwise:
    unsupported types are refused before anything is stored."""
    media_type = media_type_of(raw)
    if undeclared_ok and media_type in UNDECLARED_TYPES:
        return None
    try:
        return DocumentType(media_type)
    except ValueError:
        raise UnsupportedFileType(
            "Only application/pdf, image/jpeg, image/png and image/tiff files are accepted."
        ) from None


class UnsupportedFileType(ValidationError):
    """A declared media type outside the allow-list (the HTTP shell answers 415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"


# ---- names and keys ------------------------------------------------------------------------
def invalid_filename(message: str = "must be a file name, not a path") -> ValidationError:
    return ValidationError(
        f"filename {message}.",
        code="INVALID_FILENAME",
        field_errors=[FieldError("filename", message, "INVALID_FILENAME")],
    )


def sanitize_filename(raw: Any) -> str:
    """The name a file is stored under (the spec's sanitising): NUL removed; a path or an
    empty name rejected (ValidationError INVALID_FILENAME); characters outside
    ``[A-Za-z0-9._-]`` replaced by ``_`` (runs of them by one); leading and trailing dots
    removed (``file`` when no letter or digit is left); at most ``STORED_NAME_MAX``
    characters, the extension kept."""
    if not isinstance(raw, str):
        raise invalid_filename("must be text")
    name = unicodedata.normalize("NFC", raw.replace("\x00", "")).strip()
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise invalid_filename()
    name = _RUNS.sub("_", _UNSAFE.sub("_", name)).strip(". ")
    if not _ALNUM.search(name):
        name = "file"  # nothing readable is left (a name in another script, only dots)
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name) <= STORED_NAME_MAX:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= _EXTENSION_MAX:
        keep = STORED_NAME_MAX - len(extension) - 1
        return f"{stem[:keep].rstrip('.')}.{extension}"
    return name[:STORED_NAME_MAX]


def key_segment(raw: Any, field: str) -> str:
    """A tenant or invoice id as it may appear in an object key (the spec's rule: 1-128 of
    ``[A-Za-z0-9_-]``); ValidationError naming ``field`` otherwise."""
    if not isinstance(raw, str) or not _KEY_SEGMENT.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be 1-128 of [A-Za-z0-9_-] (no path characters)", "INVALID_KEY_SEGMENT"
        )
    return raw


def invoice_prefix(tenant_id: str, invoice_id: str) -> str:
    """Where every object of one invoice lives: ``tenants/{tenantId}/invoices/{invoiceId}/``."""
    tenant = key_segment(tenant_id, "tenantId")
    invoice = key_segment(invoice_id, "invoiceId")
    return f"tenants/{tenant}/invoices/{invoice}/"


def object_key(tenant_id: str, invoice_id: str, object_uuid: str, filename: str) -> str:
    """``tenants/{tenantId}/invoices/{invoiceId}/{uuid}-{filename}`` (the spec's layout), with
    the ids checked (``key_segment``) and the name sanitised (``sanitize_filename``)."""
    canonical = str(uuid.UUID(object_uuid))  # ValueError for anything but a UUID
    return f"{invoice_prefix(tenant_id, invoice_id)}{canonical}-{sanitize_filename(filename)}"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def uuid_text(sortable: str) -> str:
    """A UUID (8-4-4-4-12 hex) holding the 128 bits of a sortable id's 26 characters
    (``ids.sortable_id``: 48 bits of time, 80 of randomness): the core draws its randomness
    through the ``IdGenerator`` port, never from ``uuid4`` itself."""
    tail = sortable[-26:]
    number = 0
    for char in tail.upper():
        number = number * 32 + _CROCKFORD.index(char)
    return str(uuid.UUID(int=number & (2**128 - 1)))


def parse_file_id(raw: Any, field: str = "fileId") -> str:
    if not isinstance(raw, str) or not _FILE_ID.fullmatch(raw):
        raise ValidationError.for_field(
            field, "must be a file id: 'fil_' then 1-60 of [A-Za-z0-9]", "INVALID_ID"
        )
    return raw


# ---- the file name a client sends ------------------------------------------------------------
@attrs.frozen
class FileName:
    """A file name as the API accepts it: 1-255 characters of text (the text rules: trimmed,
    NFC, no control or invisible characters, so no NUL), no ``/`` or ``\\`` and not ``.`` or
    ``..`` (INVALID_FILENAME). It is then sanitised for storage."""

    min_len: int = 1
    max_len: int = FILENAME_MAX

    def parse(self, raw: Any) -> str:
        value = v.text(self.min_len, self.max_len)(raw)
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValidationError("must be a file name, not a path", code="INVALID_FILENAME")
        return value


class BooleanText(enum.StrEnum):
    """A query flag."""

    TRUE = "true"
    FALSE = "false"


@attrs.frozen
class UploadRequest(Checked):
    """A presigned upload (``POST /v1/sme/invoice/presigned-url``): the invoice, the file's
    name, type, exact size in bytes and SHA-256 (hex), checked again when the upload is
    confirmed; ``primary``: make it the invoice's primary document (default: when the invoice
    has none yet)."""

    INVALID_MESSAGE: ClassVar[str] = "The upload request has invalid fields."

    invoice_id: str = rule_field(InvoiceId())
    filename: str = rule_field(FileName())
    content_type: DocumentType = rule_field(OneOf(DocumentType))
    size: int = rule_field(
        Integer(1, DECLARED_SIZE_MAX), description="Bytes; at most BODY_LIMIT_INVOICE."
    )
    sha256: str = rule_field(Pattern(SHA256_PATTERN, "must be 64 lowercase hexadecimal digits", 64))
    primary: bool | None = rule_field(Flag(), default=None, optional=True)


@attrs.frozen
class UploadQuery(Checked):
    """The query of a direct upload: the file name of a raw body (default ``upload`` and the
    type's extension; a multipart part's own name otherwise) and ``primary``."""

    filename: str | None = rule_field(FileName(), default=None, optional=True)
    primary: BooleanText | None = rule_field(OneOf(BooleanText), default=None, optional=True)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The upload query has invalid parameters.")


@attrs.frozen
class DownloadQuery(Checked):
    """How long a download URL lives: ``expiresIn`` seconds, 1 to 86400 (default 3600)."""

    expires_in: int = rule_field(
        QueryInteger(1, DOWNLOAD_URL_MAX_SECONDS), default=DOWNLOAD_URL_DEFAULT_SECONDS
    )

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The download query has invalid parameters.")


# ---- the aggregate -------------------------------------------------------------------------
class FileStatus(enum.StrEnum):
    PENDING = "pending"  # a presigned upload not yet confirmed
    STORED = "stored"  # checked and counted for the invoice


@attrs.frozen
class InvoiceFile:
    """A document of an invoice. ``size`` and ``sha256`` are the declared ones while
    ``pending``, the measured ones once ``stored`` (they are equal then: confirming checks)."""

    id: str
    tenant_id: str
    invoice_id: str
    object_key: str
    filename: str  # as stored (sanitised)
    content_type: DocumentType
    size: int
    sha256: str
    status: FileStatus
    primary: bool
    uploaded_by: str
    created_at: datetime
    stored_at: datetime | None = None
    upload_expires_at: datetime | None = None

    @property
    def confirm_deadline(self) -> datetime | None:
        """Until when a pending upload may be confirmed (None once stored)."""
        if self.upload_expires_at is None or self.status is FileStatus.STORED:
            return None
        return self.upload_expires_at + CONFIRM_GRACE


@attrs.frozen
class UploadTicket:
    """What a presigned upload request returns (and replays under its Idempotency-Key): the
    pending file, where and how to send its bytes, and until when."""

    file: InvoiceFile
    upload_url: str
    upload_method: str
    upload_headers: dict[str, str]
    expires_at: datetime


@attrs.frozen
class SignedUrl:
    """A short-lived URL to one object."""

    url: str
    expires_at: datetime


# ---- measuring content -----------------------------------------------------------------------
@attrs.define
class Digest:
    """Size, SHA-256 and first bytes of content seen chunk by chunk (nothing else is kept)."""

    size: int = 0
    head: bytes = b""
    _hash: Any = attrs.field(factory=hashlib.sha256)

    def update(self, chunk: bytes) -> None:
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.size += len(chunk)
        self._hash.update(chunk)

    @property
    def sha256(self) -> str:
        return str(self._hash.hexdigest())

    @property
    def detected(self) -> DocumentType | None:
        return sniff(self.head)


def check_content(digest: Digest, declared: DocumentType | None, max_bytes: int) -> DocumentType:
    """The type of measured content, or ValidationError: empty (FILE_EMPTY), larger than
    ``max_bytes`` (FILE_TOO_LARGE), none of the allowed types by its magic bytes
    (FILE_CONTENT_NOT_ALLOWED), or another allowed type than ``declared``
    (FILE_CONTENT_MISMATCH). Field ``file``."""
    if digest.size == 0:
        raise _content_error("The file is empty.", "must not be empty", "FILE_EMPTY")
    if digest.size > max_bytes:
        raise _content_error(
            f"The file exceeds {max_bytes} bytes.",
            f"must be at most {max_bytes} bytes",
            "FILE_TOO_LARGE",
        )
    detected = digest.detected
    if detected is None:
        raise _content_error(
            "The file's content is not a PDF, JPEG, PNG or TIFF file.",
            "must be a PDF, JPEG, PNG or TIFF file (checked by its content)",
            "FILE_CONTENT_NOT_ALLOWED",
        )
    if declared is not None and detected is not declared:
        raise _content_error(
            f"The file's content is {detected.value}, not the declared {declared.value}.",
            f"content is {detected.value}, not {declared.value}",
            "FILE_CONTENT_MISMATCH",
        )
    return detected


def _content_error(message: str, field_message: str, code: str) -> ValidationError:
    return ValidationError(
        message, code="UNSUPPORTED_FILE", field_errors=[FieldError("file", field_message, code)]
    )


# ---- errors ----------------------------------------------------------------------------------
def file_not_found(file_id: str) -> NotFound:
    return NotFound(f"File '{file_id}' was not found.", code="FILE_NOT_FOUND")


def files_closed(status: InvoiceStatus) -> Conflict:
    return Conflict(
        f"Invoice is '{status.value}'; its files can no longer change.", code="INVOICE_FILES_CLOSED"
    )


def attestation_frozen(status: InvoiceStatus) -> Conflict:
    return Conflict(
        f"Invoice is '{status.value}'; its primary document can change only while it is "
        "pending or approved.",
        code="ATTESTATION_FROZEN",
    )


def too_many_files() -> Conflict:
    return Conflict(
        f"An invoice holds at most {MAX_FILES_PER_INVOICE} files.", code="TOO_MANY_FILES"
    )


def upload_missing() -> Conflict:
    return Conflict(
        "Nothing was uploaded to this file's URL yet; upload it, then confirm.",
        code="UPLOAD_NOT_FOUND",
    )


def upload_expired() -> Conflict:
    return Conflict(
        "This upload expired before it was confirmed; request a new upload URL.",
        code="UPLOAD_EXPIRED",
    )


def upload_mismatch(errors: Sequence[FieldError]) -> Unprocessable:
    return Unprocessable(
        "The uploaded file is not the one declared; it was discarded. Upload the declared "
        "file again before the URL expires, then confirm.",
        code="UPLOAD_MISMATCH",
        field_errors=errors,
    )


def accepts_files(status: InvoiceStatus) -> bool:
    """Files may be added to a live invoice until it reaches a terminal state."""
    return status not in TERMINAL
