"""Invoice document use cases: direct uploads, presigned uploads and their confirmation,
listing, signed download URLs, and the clean-up jobs (``liquifact_core.documents``).

Who: an invoice's files are reached only by the SME that submitted it and by the tenant's
operators (admins, and API keys acting for the tenant); anyone else (another SME, investors)
is answered as if the invoice did not exist (NotFound, 404).

Storage calls (``ObjectStore``) are never made inside a unit of work: the bytes are stored or
read first, with no transaction open, then one unit records the outcome. An object whose row
could not be recorded is removed again; one left behind by a crash lies under its invoice's
prefix and goes with the invoice's purge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import BinaryIO

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.documents import (
    ATTESTATION_OPEN,
    CHUNK_BYTES,
    FILE_ID_PREFIX,
    FILE_UPLOAD_EXPIRY,
    INVOICE_FILES_PURGE,
    MAX_FILES_PER_INVOICE,
    UPLOAD_URL_TTL,
    Digest,
    DocumentType,
    FileName,
    FileStatus,
    InvoiceFile,
    SignedUrl,
    UploadRequest,
    UploadTicket,
    accepts_files,
    attestation_frozen,
    check_content,
    file_not_found,
    files_closed,
    invoice_prefix,
    object_key,
    parse_file_id,
    sanitize_filename,
    too_many_files,
    upload_expired,
    upload_mismatch,
    upload_missing,
    uuid_text,
)
from liquifact_core.errors import (
    FieldError,
    NotFound,
    Unavailable,
    ValidationError,
    invoice_not_found,
)
from liquifact_core.idempotency import parse_idempotency_key, request_fingerprint
from liquifact_core.ids import parse_invoice_id
from liquifact_core.invoices import Actor, Invoice
from liquifact_core.jobs import JOB_ID_PREFIX, Job, new_job
from liquifact_core.lifecycle import Role
from liquifact_core.ports import (
    Clock,
    IdGenerator,
    ObjectStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from liquifact_core.services.idempotency import IdempotencyService

DEFAULT_MAX_BYTES = 512 * 1024  # the spec's BODY_LIMIT_INVOICE default
# The sweep of an unconfirmed upload runs this long after its confirmation deadline, so a
# confirmation that started just before the deadline has finished.
SWEEP_MARGIN = timedelta(minutes=5)
PRESIGNED_UPLOAD = "invoice.presigned_upload"  # the operation in Idempotency-Key fingerprints
_FILE_READERS = frozenset({Role.SME, Role.ADMIN, Role.SERVICE})


@attrs.frozen
class DirectUpload:
    """A file sent to ``POST /v1/invoices/{id}/files``: its name (None: ``upload`` plus the
    type's extension), its declared type (None: undeclared, the bytes decide) and whether it
    is to be the primary document (None: if the invoice has none yet)."""

    filename: str | None
    declared: DocumentType | None
    primary: bool | None = None


@attrs.frozen
class UploadOutcome:
    """A presigned upload request's ticket; ``replayed`` when an earlier request under the
    same Idempotency-Key made it; ``context`` is what the caller kept about that first one."""

    ticket: UploadTicket
    replayed: bool
    context: Mapping[str, str] = attrs.field(factory=dict)


def documents_unavailable() -> Unavailable:
    return Unavailable(
        "Document storage is not configured on this server.",
        code="DOCUMENTS_UNAVAILABLE",
        retryable=False,
    )


class DocumentService:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        objects: ObjectStore | None,
        idempotency: IdempotencyService,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``objects``: where the bytes go (None: every operation answers 503
        DOCUMENTS_UNAVAILABLE); ``max_bytes``: the largest file (BODY_LIMIT_INVOICE)."""
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._objects = objects
        self._idempotency = idempotency
        self.max_bytes = max_bytes

    @property
    def available(self) -> bool:
        return self._objects is not None

    # ---- direct uploads ----------------------------------------------------------------
    def check_upload(self, tenant_id: str, actor: Actor, invoice_id: str) -> None:
        """Whether ``actor`` may add a file to the invoice now (404, 409 INVOICE_FILES_CLOSED
        or TOO_MANY_FILES otherwise): asked before a body is read."""
        self._store()
        with self._read(tenant_id) as uow:
            invoice = _file_invoice(uow, tenant_id, actor, invoice_id)
            _check_room(uow, invoice)

    def upload(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        upload: DirectUpload,
        source: BinaryIO,
    ) -> InvoiceFile:
        """Store the file ``source`` holds (from its current position; seekable) as a file
        of the invoice, counted at once.

        Checked before anything is stored: who may (404), the invoice's state (409), the name
        (400 INVALID_FILENAME), the content (``documents.check_content``: 400 FILE_EMPTY,
        FILE_TOO_LARGE, FILE_CONTENT_NOT_ALLOWED, FILE_CONTENT_MISMATCH) and the primary
        flag (409 ATTESTATION_FROZEN when asked for after the invoice was linked). The size
        and SHA-256 are measured while reading; a primary file sets the invoice's
        attestation digest."""
        objects = self._store()
        name = _client_filename(upload.filename)
        with self._read(tenant_id) as uow:
            invoice = _file_invoice(uow, tenant_id, actor, invoice_id)
            _check_room(uow, invoice)
            _primary_wanted(invoice, upload.primary)
        start = source.tell()
        digest = _measure(source.read, self.max_bytes)
        kind = check_content(digest, upload.declared, self.max_bytes)
        stored_name = sanitize_filename(name or f"upload{kind.extension}")
        key = self._new_key(tenant_id, invoice_id, stored_name)
        source.seek(start)
        objects.put(key, source, digest.size, kind.value)
        try:
            with self._uow(tenant_id) as uow:
                invoice = _file_invoice(uow, tenant_id, actor, invoice_id)
                _check_room(uow, invoice)
                now = self._clock.now()
                file = InvoiceFile(
                    id=self._ids.new_id(FILE_ID_PREFIX),
                    tenant_id=tenant_id,
                    invoice_id=invoice.id,
                    object_key=key,
                    filename=stored_name,
                    content_type=kind,
                    size=digest.size,
                    sha256=digest.sha256,
                    status=FileStatus.STORED,
                    primary=_primary_wanted(invoice, upload.primary),
                    uploaded_by=actor.id,
                    created_at=now,
                    stored_at=now,
                )
                uow.files.add(file)
                self._audit(uow, actor, file, "invoice.file_added", now)
                if file.primary:
                    self._make_primary(uow, actor, invoice, file, now)
                uow.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                objects.delete(key)
            raise
        return file

    # ---- presigned uploads ---------------------------------------------------------------
    def request_upload(
        self,
        tenant_id: str,
        actor: Actor,
        request: UploadRequest,
        idempotency_key: str | None,
        *,
        context: Mapping[str, str] | None = None,
    ) -> UploadOutcome:
        """A pending file and a URL to PUT its bytes to (valid ``UPLOAD_URL_TTL``), at most
        once per ``idempotency_key`` (8-128 of ``[A-Za-z0-9._:-]``, required): the same key
        and request give back the same file id and URL (``replayed``); the same key with
        another request is Conflict IDEMPOTENCY_KEY_REUSED (409).

        Checked first: the key's form, who may (404), the declared size against the limit
        (400 FILE_TOO_LARGE), the invoice's state (409) and the primary flag. The file counts
        for the invoice only once ``confirm`` has checked what was uploaded; unconfirmed, it
        is swept away after its confirmation deadline (a ``documents.upload_expiry`` job)."""
        key = parse_idempotency_key(idempotency_key)
        self._store()
        if request.size > self.max_bytes:
            raise ValidationError(
                f"The file exceeds {self.max_bytes} bytes.",
                code="UNSUPPORTED_FILE",
                field_errors=[
                    FieldError("size", f"must be at most {self.max_bytes}", "FILE_TOO_LARGE")
                ],
            )
        with self._read(tenant_id) as uow:
            _file_invoice(uow, tenant_id, actor, request.invoice_id)
        fingerprint = request_fingerprint(
            PRESIGNED_UPLOAD,
            f"{actor.role.value}:{actor.id}",
            {
                "invoice_id": request.invoice_id,
                "filename": request.filename,
                "content_type": request.content_type.value,
                "size": request.size,
                "sha256": request.sha256,
                "primary": request.primary,
            },
        )
        outcome = self._idempotency.execute(
            tenant_id,
            key,
            fingerprint,
            lambda uow: self._pending_upload(uow, tenant_id, actor, request),
            context,
        )
        ticket = outcome.result
        assert isinstance(ticket, UploadTicket)  # the fingerprint binds the key to this use
        return UploadOutcome(ticket, outcome.replayed, outcome.context)

    def _pending_upload(
        self, uow: UnitOfWork, tenant_id: str, actor: Actor, request: UploadRequest
    ) -> UploadTicket:
        objects = self._store()
        invoice = _file_invoice(uow, tenant_id, actor, request.invoice_id)
        _check_room(uow, invoice)
        now = self._clock.now()
        stored_name = sanitize_filename(request.filename)
        key = self._new_key(tenant_id, invoice.id, stored_name)
        expires_at = now + UPLOAD_URL_TTL
        file = InvoiceFile(
            id=self._ids.new_id(FILE_ID_PREFIX),
            tenant_id=tenant_id,
            invoice_id=invoice.id,
            object_key=key,
            filename=stored_name,
            content_type=request.content_type,
            size=request.size,
            sha256=request.sha256,
            status=FileStatus.PENDING,
            primary=_primary_wanted(invoice, request.primary),
            uploaded_by=actor.id,
            created_at=now,
            upload_expires_at=expires_at,
        )
        uow.files.add(file)
        deadline = file.confirm_deadline
        assert deadline is not None  # a pending file has one
        uow.jobs.enqueue(
            new_job(
                job_id=self._ids.new_id(JOB_ID_PREFIX),
                tenant_id=tenant_id,
                job_type=FILE_UPLOAD_EXPIRY,
                payload={"invoiceId": invoice.id, "fileId": file.id},
                now=now,
                run_after=deadline + SWEEP_MARGIN,
            )
        )
        self._audit(uow, actor, file, "invoice.file_upload_requested", now)
        url = objects.upload_url(key, file.content_type.value, file.size, expires_at)
        return UploadTicket(
            file=file,
            upload_url=url,
            upload_method="PUT",
            # If-None-Match: * makes every store refuse a second upload to the key (S3
            # signs it into the URL; the local store refuses replacing anyway).
            upload_headers={"Content-Type": file.content_type.value, "If-None-Match": "*"},
            expires_at=expires_at,
        )

    def confirm(self, tenant_id: str, actor: Actor, invoice_id: str, file_id: str) -> InvoiceFile:
        """Count a presigned upload for its invoice once what was uploaded is checked: its
        size and SHA-256 are the declared ones and its magic bytes are the declared type's.
        A stored file is returned as it is (confirming twice is harmless).

        409 UPLOAD_NOT_FOUND (nothing uploaded yet), UPLOAD_EXPIRED (past its deadline, or
        swept); 422 UPLOAD_MISMATCH naming each differing field (``size``, ``sha256``,
        ``contentType``): the object is discarded, and the same URL may be used again
        until it expires."""
        objects = self._store()
        parse_file_id(file_id)
        with self._read(tenant_id) as uow:
            _file_invoice(uow, tenant_id, actor, invoice_id)
            file = uow.files.get(tenant_id, invoice_id, file_id)
        if file is None:
            raise file_not_found(file_id)
        if file.status is FileStatus.STORED:
            return file
        self._check_deadline(file)
        try:
            with objects.open(file.object_key) as reader:
                digest = _measure(reader.read, file.size)
        except NotFound:
            raise upload_missing() from None
        mismatches = _mismatches(file, digest)
        if mismatches:
            with contextlib.suppress(Exception):
                objects.delete(file.object_key)
            raise upload_mismatch(mismatches)
        with self._uow(tenant_id) as uow:
            invoice = _file_invoice(uow, tenant_id, actor, invoice_id)
            now = self._clock.now()
            self._check_deadline(file)
            if file.primary and invoice.status not in ATTESTATION_OPEN:
                raise attestation_frozen(invoice.status)
            stored = attrs.evolve(file, status=FileStatus.STORED, stored_at=now)
            if not uow.files.mark_stored(stored):
                current = uow.files.get(tenant_id, invoice_id, file_id)
                if current is not None and current.status is FileStatus.STORED:
                    return current  # a concurrent confirmation won
                raise upload_expired()  # swept meanwhile
            self._audit(uow, actor, stored, "invoice.file_added", now)
            if stored.primary:
                self._make_primary(uow, actor, invoice, stored, now)
            uow.commit()
        return stored

    def _check_deadline(self, file: InvoiceFile) -> None:
        deadline = file.confirm_deadline
        if deadline is not None and self._clock.now() > deadline:
            raise upload_expired()

    # ---- reads ---------------------------------------------------------------------------
    def list(self, tenant_id: str, actor: Actor, invoice_id: str) -> Sequence[InvoiceFile]:
        """The invoice's stored files, oldest first (pending uploads are not listed)."""
        with self._read(tenant_id) as uow:
            _file_invoice(uow, tenant_id, actor, invoice_id)
            files = uow.files.list(tenant_id, invoice_id)
        return [file for file in files if file.status is FileStatus.STORED]

    def download_url(
        self, tenant_id: str, actor: Actor, invoice_id: str, file_id: str, expires_in: int
    ) -> SignedUrl:
        """A URL serving one stored file for ``expires_in`` seconds (the caller's query rule
        bounds it: 1 to 86400, default 3600). Pending files are not found."""
        objects = self._store()
        parse_file_id(file_id)
        with self._read(tenant_id) as uow:
            _file_invoice(uow, tenant_id, actor, invoice_id)
            file = uow.files.get(tenant_id, invoice_id, file_id)
        if file is None or file.status is not FileStatus.STORED:
            raise file_not_found(file_id)
        expires_at = self._clock.now() + timedelta(seconds=expires_in)
        url = objects.download_url(
            file.object_key, file.filename, file.content_type.value, expires_at
        )
        return SignedUrl(url, expires_at)

    # ---- background jobs -----------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Job], None]]:
        """The job handlers of this module by job type (both idempotent)."""
        return {FILE_UPLOAD_EXPIRY: self.expire_upload, INVOICE_FILES_PURGE: self.purge_invoice}

    def expire_upload(self, job: Job) -> None:
        """Sweep one presigned upload that was never confirmed: its row, then its object.
        A confirmed file is left alone."""
        invoice_id, file_id = str(job.payload["invoiceId"]), str(job.payload["fileId"])
        with self._uow(job.tenant_id) as uow:
            removed = uow.files.remove(job.tenant_id, invoice_id, file_id)
            uow.commit()
        if removed is not None:
            self._store().delete(removed.object_key)

    def purge_invoice(self, job: Job) -> None:
        """Remove every file of a deleted invoice: rows, then every object under its prefix
        (late uploads included). A live invoice is never purged."""
        invoice_id = str(job.payload["invoiceId"])
        with self._uow(job.tenant_id) as uow:
            if uow.invoices.get(job.tenant_id, invoice_id) is not None:
                return
            uow.files.remove_invoice(job.tenant_id, invoice_id)
            uow.commit()
        self._store().delete_prefix(invoice_prefix(job.tenant_id, invoice_id))

    # ---- helpers -------------------------------------------------------------------------
    def _store(self) -> ObjectStore:
        if self._objects is None:
            raise documents_unavailable()
        return self._objects

    def _new_key(self, tenant_id: str, invoice_id: str, stored_name: str) -> str:
        return object_key(tenant_id, invoice_id, uuid_text(self._ids.new_id("")), stored_name)

    def _make_primary(
        self, uow: UnitOfWork, actor: Actor, invoice: Invoice, file: InvoiceFile, now: datetime
    ) -> None:
        """``file`` becomes the invoice's primary document: its SHA-256 is the invoice's
        attestation digest from now on (a new invoice version)."""
        uow.files.set_primary(invoice.tenant_id, invoice.id, file.id)
        updated = attrs.evolve(
            invoice,
            attestation_digest=file.sha256,
            version=invoice.version + 1,
            updated_at=now,
        )
        uow.invoices.update(updated, invoice.version)
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=invoice.tenant_id,
                action="invoice.attestation_set",
                resource=("invoice", invoice.id),
                at=now,
                metadata={"fileId": file.id, "sha256": file.sha256},
            )
        )

    def _audit(
        self, uow: UnitOfWork, actor: Actor, file: InvoiceFile, action: str, now: datetime
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=file.tenant_id,
                action=action,
                resource=("invoice", file.invoice_id),
                at=now,
                metadata={
                    "fileId": file.id,
                    "filename": file.filename,
                    "contentType": file.content_type.value,
                    "size": file.size,
                    "sha256": file.sha256,
                    "primary": file.primary,
                },
            )
        )


def forget_invoice_files(
    uow: UnitOfWork, ids: IdGenerator, invoice: Invoice, now: datetime
) -> None:
    """Inside the unit deleting ``invoice``: its file rows go with it, and (if it had any)
    two ``documents.invoice_purge`` jobs remove its objects, now and once every upload URL
    it handed out has expired (a late PUT to an S3 URL lands after the first purge)."""
    removed = uow.files.remove_invoice(invoice.tenant_id, invoice.id)
    if not removed:
        return
    for delay in (timedelta(0), UPLOAD_URL_TTL + SWEEP_MARGIN):
        uow.jobs.enqueue(
            new_job(
                job_id=ids.new_id(JOB_ID_PREFIX),
                tenant_id=invoice.tenant_id,
                job_type=INVOICE_FILES_PURGE,
                payload={"invoiceId": invoice.id},
                now=now,
                run_after=now + delay,
            )
        )


def _file_invoice(uow: UnitOfWork, tenant_id: str, actor: Actor, invoice_id: str) -> Invoice:
    """The invoice if ``actor`` may reach its files: the SME that submitted it, or an
    operator. Anyone else, and a missing or deleted invoice, is NotFound alike."""
    parse_invoice_id(invoice_id)
    invoice = uow.invoices.get(tenant_id, invoice_id)
    if (
        invoice is None
        or actor.role not in _FILE_READERS
        or (actor.role is Role.SME and invoice.sme_id != actor.id)
    ):
        raise invoice_not_found(invoice_id)
    return invoice


def _check_room(uow: UnitOfWork, invoice: Invoice) -> None:
    if not accepts_files(invoice.status):
        raise files_closed(invoice.status)
    if len(uow.files.list(invoice.tenant_id, invoice.id)) >= MAX_FILES_PER_INVOICE:
        raise too_many_files()


def _primary_wanted(invoice: Invoice, wanted: bool | None) -> bool:
    """Whether a new file becomes the primary document: as asked (True only while the
    invoice is pending or approved: 409 ATTESTATION_FROZEN otherwise), or by default when the
    invoice has no primary document yet and it may still get one."""
    is_open = invoice.status in ATTESTATION_OPEN
    if wanted is True and not is_open:
        raise attestation_frozen(invoice.status)
    if wanted is None:
        return is_open and invoice.attestation_digest is None
    return wanted


def _client_filename(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        parsed: str = FileName().parse(raw)
    except ValidationError as error:
        code = error.code if error.code != ValidationError.code else "INVALID_VALUE"
        raise ValidationError(
            f"filename {error.message}",
            field_errors=[FieldError("filename", error.message, code)],
        ) from None
    return parsed


def _measure(read: Callable[[int], bytes], limit: int) -> Digest:
    """Size, hash and head of what ``read`` yields, a chunk at a time; reading stops once
    more than ``limit`` bytes came (that is enough to refuse it)."""
    digest = Digest()
    while chunk := read(CHUNK_BYTES):
        digest.update(chunk)
        if digest.size > limit:
            break
    return digest


def _mismatches(file: InvoiceFile, digest: Digest) -> list[FieldError]:
    found: list[FieldError] = []
    if digest.size != file.size:
        found.append(
            FieldError("size", f"the upload is not {file.size} bytes long", "SIZE_MISMATCH")
        )
    if digest.sha256 != file.sha256:
        found.append(FieldError("sha256", "the upload's SHA-256 is not this", "HASH_MISMATCH"))
    detected = digest.detected
    if detected is not file.content_type:
        found.append(
            FieldError(
                "contentType",
                f"the upload's content is not {file.content_type.value}",
                "TYPE_MISMATCH",
            )
        )
    return found


__all__ = [
    "DirectUpload",
    "DocumentService",
    "UploadOutcome",
    "documents_unavailable",
    "forget_invoice_files",
]
