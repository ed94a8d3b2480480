"""Exporting an invoice's audit trail (``GET /v1/admin/audit/invoices/{invoiceId}/export``):
the query, the signed page cursor, and the spec's CSV format.

The trail of an invoice is every event whose ``AuditEvent.invoice_id`` is that invoice, in the
order the events were appended (``AuditRecord.position``). JSON pages through it with a
cursor (``limit`` 1-500, default 50); CSV is the whole trail, streamed by the caller chunk by
chunk (``CsvRows``) from a database cursor, never loaded at once.

CSV cells are made safe for spreadsheets (``neutralise``, the spec's ``escapeCsvField``): a
cell that starts with TAB or CR, or whose first character after leading whitespace is one of
``= + - @ |`` (the OWASP CSV-injection list), gets a leading single quote, so Excel,
LibreOffice and Google Sheets show it as text and never evaluate it as a formula or DDE call.
Quoting is RFC 4180, done by the standard ``csv`` module (every data cell quoted, so no
``;`` or tab inside a cell can start a new one in any locale; double quotes doubled, lines end
with CRLF). Full-width and small forms of the leading characters (NFKC) are caught too.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any, ClassVar

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.rules import Checked, Cursor, OneOf, QueryInteger, query_error, rule_field
from liquifact_core.signed_cursors import SignedCursors, cursor_mismatch, invalid_cursor

EXPORT_LIMIT_DEFAULT = 50
EXPORT_LIMIT_MAX = 500
# The spec's columns, in its order; then the actor's role and the event's (redacted) metadata
# as compact JSON, which the spec's columns leave out (before/after snapshots live there).
SPEC_COLUMNS = (
    "id",
    "timestamp",
    "actor",
    "action",
    "resourceType",
    "resourceId",
    "statusCode",
    "ipAddress",
    "userAgent",
)
CSV_COLUMNS = (*SPEC_COLUMNS, "actorRole", "metadata")
# First characters a spreadsheet reads as the start of a formula or DDE call (after leading
# whitespace). Their compatibility forms (full-width \uff1d, small \ufe66 ...), which some
# spreadsheets normalise, are caught by comparing the character's NFKC form.
_FORMULA_LEADS = frozenset("=+-@|")
_RAW_LEADS = frozenset("\t\r")
_CURSOR_VERSION = 1


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


@attrs.frozen
class AuditRecord:
    """An event with its ``position`` in the audit log: a number that grows with every event
    appended (PostgreSQL ``seq``, SQLite ``rowid``), so the trail has one fixed order."""

    position: int
    event: AuditEvent


@attrs.frozen
class AuditExportQuery(Checked):
    """The export's query: ``format`` (json, the default, or csv), and for JSON the page:
    ``limit`` (1-500, default 50) and ``cursor`` (a ``nextCursor`` of an earlier page).
    ``limit`` and ``cursor`` do not apply to CSV, which is the whole trail (400
    NOT_ALLOWED_FOR_FORMAT)."""

    format: ExportFormat = rule_field(OneOf(ExportFormat), default=ExportFormat.JSON)
    limit: int | None = rule_field(QueryInteger(1, EXPORT_LIMIT_MAX), default=None, optional=True)
    cursor: str | None = rule_field(Cursor(), default=None, optional=True)

    @classmethod
    def cross_field_errors(cls, parsed: Mapping[str, Any]) -> list[FieldError]:
        if parsed.get("format", ExportFormat.JSON) is not ExportFormat.CSV:
            return []
        return [
            FieldError(name, "applies to format=json only", "NOT_ALLOWED_FOR_FORMAT")
            for name in ("limit", "cursor")
            if parsed.get(name) is not None
        ]

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The audit export query has invalid parameters.")

    @property
    def page_size(self) -> int:
        return EXPORT_LIMIT_DEFAULT if self.limit is None else self.limit


@attrs.frozen
class AuditPage:
    """One JSON page of an invoice's trail: ``total`` events in all, ``next_cursor`` None on
    the last page."""

    records: Sequence[AuditRecord]
    total: int
    limit: int
    next_cursor: str | None


# ---- the page cursor --------------------------------------------------------------------------
@attrs.frozen
class AuditCursorCodec:
    """Signs (HMAC-SHA256) and checks export cursors: the tenant, the invoice and the position
    of the last event of the page. The tenant filter is in every query anyway; the signature
    keeps cursors opaque, and a cursor of another invoice or tenant is refused
    (CURSOR_MISMATCH) rather than silently read as a position."""

    secret: bytes = attrs.field(repr=False)

    @property
    def _cursors(self) -> SignedCursors:
        return SignedCursors(self.secret, "audit")

    def encode(self, tenant_id: str, invoice_id: str, position: int) -> str:
        return self._cursors.encode(
            {"v": _CURSOR_VERSION, "t": tenant_id, "i": invoice_id, "p": position}
        )

    def decode(self, tenant_id: str, invoice_id: str, cursor: str) -> int:
        """The position a cursor names; ValidationError INVALID_CURSOR or CURSOR_MISMATCH."""
        payload = self._cursors.decode(cursor)
        position = payload.get("p")
        if payload.get("v") != _CURSOR_VERSION or type(position) is not int or position < 0:
            raise invalid_cursor("is not a cursor issued by this API")
        if payload.get("t") != tenant_id or payload.get("i") != invoice_id:
            raise cursor_mismatch("invoice's export")
        return position


# ---- CSV --------------------------------------------------------------------------------------
def _is_leading_space(ch: str) -> bool:
    # What JavaScript's trimStart() drops (the spec's check): Unicode white space and the BOM.
    return ch.isspace() or ch == "\ufeff"


def neutralise(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet evaluates: prefixed with ``'`` when it starts with
    TAB or CR, or when its first character after leading whitespace is ``= + - @ |`` (or a
    full-width form of one). Any other text is returned unchanged."""
    if not text:
        return text
    if text[0] in _RAW_LEADS:
        return "'" + text
    for ch in text:
        if _is_leading_space(ch):
            continue
        return "'" + text if _is_formula_lead(ch) else text
    return text


def _is_formula_lead(ch: str) -> bool:
    return ch in _FORMULA_LEADS or unicodedata.normalize("NFKC", ch)[:1] in _FORMULA_LEADS


def _timestamp(event: AuditEvent) -> str:
    return event.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def csv_fields(event: AuditEvent) -> list[str]:
    """The cells of one event, in ``CSV_COLUMNS`` order, each neutralised. ``statusCode``,
    ``ipAddress`` and ``userAgent`` come from the metadata (the admin request records and
    webhook outcomes carry them), empty when absent."""
    metadata = event.metadata
    status = metadata.get("statusCode")
    values = [
        event.id,
        _timestamp(event),
        event.actor_id,
        event.action,
        event.resource_type,
        event.resource_id,
        str(status) if type(status) is int else "",
        _text(metadata.get("ipAddress")),
        _text(metadata.get("userAgent")),
        event.actor_role,
        json.dumps(dict(metadata), sort_keys=True, ensure_ascii=False, separators=(",", ":")),
    ]
    return [neutralise(value) for value in values]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class CsvRows:
    """Renders the trail as CSV text, a chunk at a time (``csv`` module, RFC 4180 quoting, CRLF
    line ends): ``header()`` once, then ``rows(records)`` for each chunk read from the store.
    Only the chunk being rendered is held in memory.

    Every data cell is quoted (RFC 4180 allows it): a spreadsheet whose locale separates
    fields with ``;`` (or an import told to split on tabs) would otherwise cut an unquoted
    cell such as ``Mozilla;=cmd|' /C calc'!A0`` in two and evaluate the second part, whose
    leading ``=`` ``neutralise`` never saw at the start of the cell. The header is constant
    and stays unquoted."""

    LINE_END: ClassVar[str] = "\r\n"

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._header = csv.writer(self._buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def header(self) -> str:
        self._header.writerow(CSV_COLUMNS)
        return self._take()

    def rows(self, records: Iterable[AuditRecord]) -> str:
        self._writer.writerows(csv_fields(record.event) for record in records)
        return self._take()

    def _take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def export_file_name(invoice_id: str) -> str:
    """The spec's download name: ``audit-<invoiceId>.csv`` (invoice ids are [A-Za-z0-9_])."""
    return f"audit-{invoice_id}.csv"
