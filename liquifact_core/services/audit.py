"""The audit trail as a feature (issue 16): the record of every admin request, and an
invoice's trail exported as JSON pages or a CSV stream.

Domain use cases write their own events in the unit of work that makes the change (with
before/after snapshots where a thing is replaced); ``record_admin_request`` is the spec's
automatic layer on top: the HTTP shell calls it after every successful write under
``/v1/admin/*`` (the spec's ``/api/admin/*``), with what the request was and who sent it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.audit_export import (
    AuditCursorCodec,
    AuditExportQuery,
    AuditPage,
    AuditRecord,
)
from liquifact_core.errors import Forbidden
from liquifact_core.ids import parse_invoice_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.ports import Clock, IdGenerator, UnitOfWorkFactory

# Records read from the database per fetch while streaming a CSV export.
DEFAULT_EXPORT_CHUNK = 500
ADMIN_REQUEST_RESOURCE = "admin_route"


@attrs.frozen
class AdminRequest:
    """A successful write under ``/v1/admin/*`` as the audit trail records it.

    ``action`` is the spec's ``X-Admin-Action`` header, else ``"<METHOD> <route>"``;
    ``target`` the spec's ``X-Audit-Target-Type`` / ``-Id`` headers, else the route itself.
    ``body`` is the request's JSON object (redacted before it is stored), None without one.
    """

    method: str
    path: str
    route: str
    status_code: int
    ip_address: str | None
    user_agent: str | None
    correlation_id: str | None
    action: str | None = None
    target: tuple[str, str] | None = None
    path_params: Mapping[str, str] = attrs.field(factory=dict)
    body: Mapping[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "statusCode": self.status_code,
            "ipAddress": self.ip_address,
            "userAgent": self.user_agent,
            "correlationId": self.correlation_id,
            "pathParams": dict(self.path_params),
            "body": None if self.body is None else dict(self.body),
        }


class AuditService:
    """Admin requests into the trail; an invoice's trail out of it (admins only)."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        read_unit: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        cursor_secret: str,
        *,
        chunk_size: int = DEFAULT_EXPORT_CHUNK,
    ) -> None:
        if len(cursor_secret) < 32:
            raise ValueError("The cursor secret must be at least 32 characters.")
        if chunk_size < 1:
            raise ValueError("The export chunk size is at least 1.")
        self._uow = unit_of_work
        self._read = read_unit
        self._clock = clock
        self._ids = ids
        self._codec = AuditCursorCodec(cursor_secret.encode("utf-8"))
        self.chunk_size = chunk_size

    def record_admin_request(
        self, tenant_id: str, actor: Actor, request: AdminRequest
    ) -> AuditEvent:
        """Append the event of one successful admin write (action ``request.action`` or
        ``"<METHOD> <route>"``); its metadata is redacted before it is stored."""
        resource = request.target or (ADMIN_REQUEST_RESOURCE, request.route)
        event = AuditEvent.by(
            actor,
            event_id=self._ids.new_id("aud_"),
            tenant_id=tenant_id,
            action=request.action or f"{request.method} {request.route}",
            resource=resource,
            at=self._clock.now(),
            metadata=request.metadata(),
        )
        with self._uow(tenant_id) as uow:
            uow.audit.append(event)
            uow.commit()
        return event

    def export_page(
        self, tenant_id: str, actor: Actor, invoice_id: str, query: AuditExportQuery
    ) -> AuditPage:
        """One JSON page of the invoice's trail, oldest first; ``query.cursor`` continues
        after the page that returned it (ValidationError INVALID_CURSOR / CURSOR_MISMATCH).
        Every event is on exactly one page while no event is appended in between."""
        _admin(actor)
        invoice_id = parse_invoice_id(invoice_id, "invoiceId")
        after = (
            None
            if query.cursor is None
            else self._codec.decode(tenant_id, invoice_id, query.cursor)
        )
        limit = query.page_size
        with self._read(tenant_id) as uow:
            found = uow.audit.invoice_trail(tenant_id, invoice_id, after, limit + 1)
            total = uow.audit.count_invoice_trail(tenant_id, invoice_id)
        records = list(found[:limit])
        next_cursor = None
        if len(found) > limit:
            next_cursor = self._codec.encode(tenant_id, invoice_id, records[-1].position)
        return AuditPage(records, total, limit, next_cursor)

    @contextmanager
    def export_stream(
        self, tenant_id: str, actor: Actor, invoice_id: str
    ) -> Iterator[Iterator[Sequence[AuditRecord]]]:
        """The invoice's whole trail, oldest first, as chunks of records read from one
        database cursor while the caller consumes them (one read snapshot). Checks access
        before anything is read; the cursor and the unit close when the block ends, however
        it ends."""
        _admin(actor)
        invoice_id = parse_invoice_id(invoice_id, "invoiceId")
        with self._read(tenant_id) as uow:
            chunks = uow.audit.stream_invoice_trail(tenant_id, invoice_id, self.chunk_size)
            try:
                yield chunks
            finally:
                close = getattr(chunks, "close", None)
                if callable(close):
                    close()


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only a tenant admin may export the audit trail.")
