"""Invoice documents over a SQL session, written once for SQLite and PostgreSQL
(``liquifact_core.ports.InvoiceFileRepository``). Table ``invoice_files`` (migration 0013)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core.documents import DocumentType, FileStatus, InvoiceFile
from liquifact_core.errors import Conflict

FILE_COLUMNS = (
    "tenant_id, id, invoice_id, object_key, filename, content_type, size_bytes, sha256, "
    "status, is_primary, uploaded_by, created_at, stored_at, upload_expires_at"
)
_PLACEHOLDERS = ", ".join(f":{name.strip()}" for name in FILE_COLUMNS.split(","))
INSERT_FILE = f"INSERT INTO invoice_files ({FILE_COLUMNS}) VALUES ({_PLACEHOLDERS})"  # noqa: S608
SELECT_FILE = (
    f"SELECT {FILE_COLUMNS} FROM invoice_files"  # noqa: S608 - constant text
    " WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND id = :id"
)
# Followed by the dialect's order of ids (code point order).
LIST_FILES = (
    f"SELECT {FILE_COLUMNS} FROM invoice_files"  # noqa: S608 - constant text
    " WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id ORDER BY created_at, id"
)
MARK_STORED = """
UPDATE invoice_files SET status = 'stored', size_bytes = :size_bytes, sha256 = :sha256,
    stored_at = :stored_at
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND id = :id AND status = 'pending'
"""
# Clear, then set: the one primary file of an invoice (pending rows keep the flag they asked
# for until they are confirmed or swept, and are never listed).
CLEAR_PRIMARY = """
UPDATE invoice_files SET is_primary = :no
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND is_primary = :yes
"""
SET_PRIMARY = """
UPDATE invoice_files SET is_primary = :yes
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND id = :id
"""
DELETE_PENDING = """
DELETE FROM invoice_files
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND id = :id AND status = 'pending'
"""
DELETE_INVOICE_FILES = (
    "DELETE FROM invoice_files WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id"
)


def duplicate_file() -> Conflict:
    return Conflict("This file was already recorded.", code="DUPLICATE_FILE")


class SqlInvoiceFileRepository:
    """``InvoiceFileRepository`` over a SQL session; a dialect names its converter, its
    statements and how it stores booleans."""

    rows: ClassVar[RowConverter]
    INSERT: ClassVar[str]
    SELECT: ClassVar[str]
    LIST: ClassVar[str]
    MARK_STORED: ClassVar[str]
    CLEAR_PRIMARY: ClassVar[str]
    SET_PRIMARY: ClassVar[str]
    DELETE_PENDING: ClassVar[str]
    DELETE_INVOICE: ClassVar[str]
    TRUE: ClassVar[object] = True
    FALSE: ClassVar[object] = False

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, file: InvoiceFile) -> None:
        self._session.check_tenant(file.tenant_id)
        try:
            self._session.write(self.INSERT, self._params(file))
        except ConstraintViolation as violation:
            if violation.kind in ("primary_key", "unique"):
                raise duplicate_file() from None
            raise

    def get(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(
            self.SELECT, {"tenant_id": tenant_id, "invoice_id": invoice_id, "id": file_id}
        )
        return self._file(found[0]) if found else None

    def list(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(
            self.LIST, {"tenant_id": tenant_id, "invoice_id": invoice_id}
        )
        return [self._file(row) for row in found]

    def mark_stored(self, file: InvoiceFile) -> bool:
        self._session.check_tenant(file.tenant_id)
        params = self._params(file)
        written = self._session.write(
            self.MARK_STORED,
            {
                name: params[name]
                for name in (
                    "tenant_id",
                    "invoice_id",
                    "id",
                    "size_bytes",
                    "sha256",
                    "stored_at",
                )
            },
        )
        return written == 1

    def set_primary(self, tenant_id: str, invoice_id: str, file_id: str | None) -> None:
        self._session.check_tenant(tenant_id)
        where = {"tenant_id": tenant_id, "invoice_id": invoice_id}
        self._session.write(self.CLEAR_PRIMARY, {**where, "yes": self.TRUE, "no": self.FALSE})
        if file_id is not None:
            self._session.write(self.SET_PRIMARY, {**where, "id": file_id, "yes": self.TRUE})

    def remove(self, tenant_id: str, invoice_id: str, file_id: str) -> InvoiceFile | None:
        current = self.get(tenant_id, invoice_id, file_id)
        if current is None or current.status is not FileStatus.PENDING:
            return None
        where = {"tenant_id": tenant_id, "invoice_id": invoice_id, "id": file_id}
        return current if self._session.write(self.DELETE_PENDING, where) == 1 else None

    def remove_invoice(self, tenant_id: str, invoice_id: str) -> Sequence[InvoiceFile]:
        removed = self.list(tenant_id, invoice_id)
        if removed:
            self._session.write(
                self.DELETE_INVOICE, {"tenant_id": tenant_id, "invoice_id": invoice_id}
            )
        return removed

    def _params(self, file: InvoiceFile) -> Params:
        rows = self.rows
        return {
            "tenant_id": file.tenant_id,
            "id": file.id,
            "invoice_id": file.invoice_id,
            "object_key": file.object_key,
            "filename": file.filename,
            "content_type": file.content_type.value,
            "size_bytes": file.size,
            "sha256": file.sha256,
            "status": file.status.value,
            "is_primary": self.TRUE if file.primary else self.FALSE,
            "uploaded_by": file.uploaded_by,
            "created_at": rows.timestamp_to_sql(file.created_at),
            "stored_at": None if file.stored_at is None else rows.timestamp_to_sql(file.stored_at),
            "upload_expires_at": (
                None
                if file.upload_expires_at is None
                else rows.timestamp_to_sql(file.upload_expires_at)
            ),
        }

    def _file(self, row: Row) -> InvoiceFile:
        rows = self.rows
        stored, expires = row["stored_at"], row["upload_expires_at"]
        return InvoiceFile(
            id=str(row["id"]),
            tenant_id=str(row["tenant_id"]),
            invoice_id=str(row["invoice_id"]),
            object_key=str(row["object_key"]),
            filename=str(row["filename"]),
            content_type=DocumentType(row["content_type"]),
            size=int(row["size_bytes"]),
            sha256=str(row["sha256"]),
            status=FileStatus(row["status"]),
            primary=bool(row["is_primary"]),
            uploaded_by=str(row["uploaded_by"]),
            created_at=rows.timestamp_from_sql(row["created_at"]),
            stored_at=None if stored is None else rows.timestamp_from_sql(stored),
            upload_expires_at=None if expires is None else rows.timestamp_from_sql(expires),
        )
