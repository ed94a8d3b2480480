"""The RetentionRepository contract (issue 16), run against every store in STORE_FACTORIES:
policies, legal holds (one active per invoice), the closed invoices a purge considers, and
erasing personal data; plus ``Store.retention_tenants``."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from liquifact_core.errors import Conflict, NotFound, StaleVersion
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import Store
from liquifact_core.retention import (
    PURGED_BUYER_NAME,
    HoldsQuery,
    LegalHold,
    LegalHoldType,
    PiiField,
    PolicyDraft,
    RetentionPolicy,
    erase,
    new_policy,
)

from .contract_support import T0, invoice, new_invoice_id, new_tenant, save, transition

_N = iter(range(10**6))


def _policy(tenant: str, name: str = "", days: int = 30, active: bool = True) -> RetentionPolicy:
    n = next(_N)
    draft = PolicyDraft(
        name=name or f"policy {n}",
        retention_days=days,
        pii_fields=frozenset({PiiField.BUYER_EMAIL, PiiField.BUYER_TAX_ID}),
        active=active,
    )
    return new_policy(f"rpol_{n:010d}", tenant, draft, "ops", T0 + timedelta(seconds=n))


def _hold(found: Invoice, n: int = 0) -> LegalHold:
    return LegalHold(
        f"hold_{next(_N):010d}",
        found.tenant_id,
        found.id,
        LegalHoldType.LITIGATION,
        "case 42",
        "ops",
        T0 + timedelta(seconds=n),
    )


def _write(store: Store, tenant: str, action: object) -> None:
    with store.unit_of_work(tenant) as uow:
        action(uow)  # type: ignore[operator]
        uow.commit()


# ---- policies ---------------------------------------------------------------------------------
def test_a_policy_round_trips_and_lists_newest_first(store: Store, tenant: str) -> None:
    first, second = _policy(tenant), _policy(tenant, active=False)
    _write(store, tenant, lambda uow: [uow.retention.add_policy(p) for p in (first, second)])

    with store.read_unit(tenant) as uow:
        assert uow.retention.get_policy(tenant, first.id) == first
        page = uow.retention.policies(tenant, 10, 0)
        assert (list(page.items), page.total) == ([second, first], 2)
        assert list(uow.retention.active_policies(tenant)) == [first]
        assert uow.retention.get_policy(tenant, "rpol_missing") is None


def test_policy_names_are_unique_in_a_tenant(store: Store, tenant: str) -> None:
    _write(store, tenant, lambda uow: uow.retention.add_policy(_policy(tenant, "GDPR")))
    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as refused:
        uow.retention.add_policy(_policy(tenant, "GDPR"))
    assert refused.value.code == "RETENTION_POLICY_NAME_TAKEN"
    other = new_tenant()
    _write(store, other, lambda uow: uow.retention.add_policy(_policy(other, "GDPR")))


def test_an_update_needs_the_version_it_read(store: Store, tenant: str) -> None:
    policy = _policy(tenant)
    _write(store, tenant, lambda uow: uow.retention.add_policy(policy))
    changed = attrs.evolve(policy, retention_days=90, version=2)
    _write(store, tenant, lambda uow: uow.retention.update_policy(changed, 1))

    with store.unit_of_work(tenant) as uow:
        assert uow.retention.get_policy(tenant, policy.id) == changed
        with pytest.raises(Conflict) as refused:
            uow.retention.update_policy(attrs.evolve(changed, version=3), 1)
    assert refused.value.code == "CONCURRENT_UPDATE"


def test_retention_tenants_are_those_with_an_active_policy(store: Store) -> None:
    active, inactive = new_tenant(), new_tenant()
    _write(store, active, lambda uow: uow.retention.add_policy(_policy(active)))
    _write(store, inactive, lambda uow: uow.retention.add_policy(_policy(inactive, active=False)))

    tenants = store.retention_tenants()

    assert active in tenants and inactive not in tenants
    assert list(tenants) == sorted(tenants)


# ---- legal holds ------------------------------------------------------------------------------
def test_one_active_hold_per_invoice(store: Store, tenant: str) -> None:
    found = invoice(tenant)
    save(store, found)
    first = _hold(found)
    _write(store, tenant, lambda uow: uow.retention.add_hold(first))

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as refused:
        uow.retention.add_hold(_hold(found, 1))
    assert refused.value.code == "LEGAL_HOLD_ACTIVE"

    released = attrs.evolve(first, released_at=T0 + timedelta(days=1), released_by="ops")
    _write(store, tenant, lambda uow: uow.retention.release_hold(released))
    second = _hold(found, 2)
    _write(store, tenant, lambda uow: uow.retention.add_hold(second))

    with store.read_unit(tenant) as uow:
        assert uow.retention.get_hold(tenant, first.id) == released
        assert list(uow.retention.active_holds(tenant, [found.id, "inv_other"])) == [second]
        page = uow.retention.holds(HoldsQuery(invoice_id=found.id), tenant)
        assert (list(page.items), page.total) == ([second, released], 2)


def test_a_hold_is_released_once(store: Store, tenant: str) -> None:
    found = invoice(tenant)
    save(store, found)
    hold = _hold(found)
    _write(store, tenant, lambda uow: uow.retention.add_hold(hold))
    released = attrs.evolve(hold, released_at=T0, released_by="ops", release_reason="settled")
    _write(store, tenant, lambda uow: uow.retention.release_hold(released))

    with store.unit_of_work(tenant) as uow, pytest.raises(Conflict) as refused:
        uow.retention.release_hold(attrs.evolve(released, released_by="someone else"))
    assert refused.value.code == "LEGAL_HOLD_RELEASED"


def test_a_hold_needs_an_invoice_of_the_tenant(store: Store, tenant: str) -> None:
    theirs = invoice(new_tenant())
    save(store, theirs)
    ghost = attrs.evolve(theirs, tenant_id=tenant)
    with store.unit_of_work(tenant) as uow, pytest.raises(NotFound):
        uow.retention.add_hold(_hold(ghost))
    with store.unit_of_work(tenant) as uow:
        assert uow.retention.lock_invoice(tenant, theirs.id) is None


# ---- closed invoices and erasing --------------------------------------------------------------
def _closed_by_transition(
    store: Store, tenant: str, status: InvoiceStatus, at_minutes: int
) -> Invoice:
    found = invoice(
        tenant,
        status=status,
        version=2,
        buyer_email="ap@buyer.example",
        id=f"inv_{next(_N):010d}",
    )
    step = attrs.evolve(
        transition(found, 2, to_status=status), at=T0 + timedelta(minutes=at_minutes)
    )
    with store.unit_of_work(tenant) as uow:
        uow.invoices.add(found)
        uow.invoices.add_transition(step)
        uow.commit()
    return found


def test_closed_invoices_are_terminal_or_deleted_and_closed_before_the_cutoff(
    store: Store, tenant: str
) -> None:
    settled = _closed_by_transition(store, tenant, InvoiceStatus.SETTLED, 10)
    rejected = _closed_by_transition(store, tenant, InvoiceStatus.REJECTED, 20)
    late = _closed_by_transition(store, tenant, InvoiceStatus.CANCELLED, 90)
    deleted = invoice(tenant, id=f"inv_{next(_N):010d}", deleted_at=T0 + timedelta(minutes=5))
    open_one = invoice(tenant, id=f"inv_{next(_N):010d}", status=InvoiceStatus.FUNDED)
    purged = invoice(
        tenant,
        id=f"inv_{next(_N):010d}",
        status=InvoiceStatus.DEFAULTED,
        buyer_name=PURGED_BUYER_NAME,
        deleted_at=T0,
    )
    save(store, deleted, open_one, purged)
    _closed_by_transition(store, new_tenant(), InvoiceStatus.SETTLED, 1)

    with store.read_unit(tenant) as uow:
        found = uow.retention.closed_invoices(tenant, T0 + timedelta(minutes=30), None, 10)
        first = uow.retention.closed_invoices(tenant, T0 + timedelta(minutes=30), None, 2)
        rest = uow.retention.closed_invoices(
            tenant, T0 + timedelta(minutes=30), first[-1].invoice.id, 2
        )

    expected = sorted(
        [
            (settled.id, T0 + timedelta(minutes=10)),
            (rejected.id, T0 + timedelta(minutes=20)),
            (deleted.id, T0 + timedelta(minutes=5)),
        ]
    )
    assert [(c.invoice.id, c.closed_at) for c in found] == expected
    assert [c.invoice.id for c in [*first, *rest]] == [item for item, _ in expected]
    assert late.id not in {c.invoice.id for c in found}


def test_erasing_writes_the_buyer_fields_of_live_and_deleted_invoices(
    store: Store, tenant: str
) -> None:
    live = invoice(
        tenant, buyer_email="a@b.example", buyer_tax_id="T1", status=InvoiceStatus.SETTLED
    )
    deleted = invoice(tenant, buyer_email="c@d.example", deleted_at=T0)
    save(store, live, deleted)

    for found in (live, deleted):
        erased = erase(found, PiiField, T0 + timedelta(days=1))
        _write(store, tenant, lambda uow, e=erased, v=found.version: uow.retention.erase_pii(e, v))
        with store.unit_of_work(tenant) as uow:
            stored = uow.retention.lock_invoice(tenant, found.id)
        assert stored == erased

    with store.unit_of_work(tenant) as uow, pytest.raises(StaleVersion):
        uow.retention.erase_pii(erase(live, PiiField, T0), live.version)


def test_a_unit_refuses_another_tenants_retention_rows(store: Store, tenant: str) -> None:
    other = new_tenant()
    with store.unit_of_work(tenant) as uow:
        with pytest.raises(PermissionError):
            uow.retention.add_policy(_policy(other))
        with pytest.raises(PermissionError):
            uow.retention.closed_invoices(other, T0, None, 1)
        with pytest.raises(PermissionError):
            uow.retention.lock_invoice(other, new_invoice_id())
