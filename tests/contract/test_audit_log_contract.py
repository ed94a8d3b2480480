"""The AuditLog contract, run against every store in STORE_FACTORIES."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta, timezone

import pytest

from liquifact_core.audit import AuditEvent
from liquifact_core.errors import Conflict
from liquifact_core.ports import Store

from .contract_support import T0, audit_event, new_invoice_id, new_tenant


def _append(store: Store, *events: AuditEvent) -> None:
    with store.unit_of_work(events[0].tenant_id) as uow:
        for event in events:
            uow.audit.append(event)
        uow.commit()


def _events(store: Store, tenant_id: str, resource_id: str) -> Sequence[AuditEvent]:
    with store.unit_of_work(tenant_id) as uow:
        return uow.audit.for_resource(tenant_id, "invoice", resource_id)


def test_event_round_trips_every_field(store: Store, tenant: str) -> None:
    event = audit_event(
        tenant,
        new_invoice_id(),
        actor_role="sme",
        action="invoice.updated",
        at=T0.astimezone(timezone(timedelta(hours=-3))),
        metadata={"fields": ["amount", "dueDate"], "from": None, "ratio": 0.5, "n": 10**18},
    )
    _append(store, event)

    [stored] = _events(store, tenant, event.resource_id)

    assert stored == event
    assert stored.at.utcoffset() is not None


def test_events_come_back_oldest_first(store: Store, tenant: str) -> None:
    resource = new_invoice_id()
    created, approved, linked = (
        audit_event(tenant, resource, action=action, at=T0 + timedelta(microseconds=offset))
        for offset, action in [
            (0, "invoice.created"),
            (1, "invoice.pending_to_approved"),
            (2, "invoice.approved_to_linked_escrow"),
        ]
    )
    _append(store, created, approved)
    _append(store, linked)

    assert list(_events(store, tenant, resource)) == [created, approved, linked]


def test_events_are_scoped_to_resource_and_tenant(store: Store, tenant: str) -> None:
    resource = new_invoice_id()
    mine = audit_event(tenant, resource)
    _append(store, mine, audit_event(tenant, new_invoice_id()))
    _append(store, audit_event(tenant, resource, resource_type="commitment"))
    _append(store, audit_event(new_tenant(), resource))

    assert list(_events(store, tenant, resource)) == [mine]


def test_unknown_resource_has_no_events(store: Store, tenant: str) -> None:
    assert list(_events(store, tenant, new_invoice_id())) == []


def test_uncommitted_event_is_rolled_back(store: Store, tenant: str) -> None:
    event = audit_event(tenant, new_invoice_id())
    with store.unit_of_work(tenant) as uow:
        uow.audit.append(event)

    assert list(_events(store, tenant, event.resource_id)) == []


def test_unit_refuses_another_tenants_events(store: Store, tenant: str) -> None:
    theirs = audit_event(new_tenant(), new_invoice_id())
    with store.unit_of_work(tenant) as uow:
        with pytest.raises(PermissionError):
            uow.audit.append(theirs)
        with pytest.raises(PermissionError):
            uow.audit.for_resource(theirs.tenant_id, "invoice", theirs.resource_id)


def test_an_event_id_is_recorded_once(store: Store, tenant: str) -> None:
    event = audit_event(tenant, new_invoice_id())
    _append(store, event)

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as raised:
        uow.audit.append(event)

    assert raised.value.code == "DUPLICATE_AUDIT_EVENT"
    assert raised.value.message == f"Audit event '{event.id}' was already recorded."
    assert list(_events(store, tenant, event.resource_id)) == [event]
