"""The AuditLog's invoice trail (issue 16), run against every store in STORE_FACTORIES: which
events belong to an invoice, paging by position, counting, streaming in chunks from one
cursor, redaction before storing, and the tenant filter."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from liquifact_core.audit import REDACTED, AuditEvent
from liquifact_core.audit_export import AuditRecord
from liquifact_core.ports import Store

from .contract_support import audit_event, new_invoice_id, new_tenant


def _append(store: Store, *events: AuditEvent) -> None:
    with store.unit_of_work(events[0].tenant_id) as uow:
        for event in events:
            uow.audit.append(event)
        uow.commit()


def _trail(
    store: Store, tenant: str, invoice_id: str, after: int | None = None, limit: int = 100
) -> Sequence[AuditRecord]:
    with store.read_unit(tenant) as uow:
        return uow.audit.invoice_trail(tenant, invoice_id, after, limit)


def _stream(store: Store, tenant: str, invoice_id: str, chunk: int) -> list[list[AuditRecord]]:
    with store.read_unit(tenant) as uow:
        return [list(part) for part in uow.audit.stream_invoice_trail(tenant, invoice_id, chunk)]


def test_the_trail_holds_the_invoice_and_what_names_it(store: Store, tenant: str) -> None:
    invoice_id = new_invoice_id()
    own = audit_event(tenant, invoice_id)
    commitment = audit_event(
        tenant, "cmt_1", resource_type="commitment", metadata={"invoiceId": invoice_id}
    )
    other = audit_event(tenant, new_invoice_id())
    numeric = audit_event(tenant, "cmt_2", resource_type="commitment", metadata={"invoiceId": 7})
    _append(store, own, commitment, other, numeric)

    found = [record.event for record in _trail(store, tenant, invoice_id)]

    assert found == [own, commitment]
    assert [own.invoice_id, commitment.invoice_id, numeric.invoice_id] == [
        invoice_id,
        invoice_id,
        None,
    ]


def test_pages_follow_the_append_order_and_visit_each_event_once(store: Store, tenant: str) -> None:
    invoice_id = new_invoice_id()
    events = [audit_event(tenant, invoice_id, action=f"step.{n}") for n in range(7)]
    _append(store, *events[:4])
    _append(store, *events[4:])

    seen: list[AuditEvent] = []
    after = None
    while True:
        page = _trail(store, tenant, invoice_id, after, 3)
        seen += [record.event for record in page]
        if len(page) < 3:
            break
        after = page[-1].position
    positions = [record.position for record in _trail(store, tenant, invoice_id)]

    assert seen == events
    assert positions == sorted(set(positions))
    with store.read_unit(tenant) as uow:
        assert uow.audit.count_invoice_trail(tenant, invoice_id) == 7


def test_the_stream_comes_in_chunks_of_at_most_the_chunk_size(store: Store, tenant: str) -> None:
    invoice_id = new_invoice_id()
    events = [audit_event(tenant, invoice_id, action=f"step.{n}") for n in range(11)]
    _append(store, *events)

    chunks = _stream(store, tenant, invoice_id, 4)

    assert [len(chunk) for chunk in chunks] == [4, 4, 3]
    assert [record.event for chunk in chunks for record in chunk] == events
    assert _stream(store, tenant, new_invoice_id(), 4) == []


def test_no_other_tenants_event_is_read(store: Store, tenant: str) -> None:
    invoice_id = new_invoice_id()
    mine = audit_event(tenant, invoice_id)
    _append(store, mine)
    _append(store, audit_event(new_tenant(), invoice_id))

    assert [r.event for r in _trail(store, tenant, invoice_id)] == [mine]
    assert [r.event for c in _stream(store, tenant, invoice_id, 10) for r in c] == [mine]
    with store.read_unit(tenant) as uow:
        assert uow.audit.count_invoice_trail(tenant, invoice_id) == 1
        with pytest.raises(PermissionError):
            uow.audit.invoice_trail(new_tenant(), invoice_id, None, 10)


def test_sensitive_metadata_is_redacted_before_it_is_stored(store: Store, tenant: str) -> None:
    invoice_id = new_invoice_id()
    event = audit_event(
        tenant, invoice_id, metadata={"body": {"password": "p", "privateKey": "k", "ok": 1}}
    )
    _append(store, event)

    [record] = _trail(store, tenant, invoice_id)

    assert record.event.metadata == {
        "body": {"password": REDACTED, "privateKey": REDACTED, "ok": 1}
    }
