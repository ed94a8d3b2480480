"""The escrow indexer's tables (migration 0011) on every store: projections and the cursor
round-trip exactly (i128 amounts included), belong to one tenant, commit or roll back with the
unit, the cursor moves only from the position its writer read, and the maintenance listing
finds every linked escrow to index across tenants."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from stellar_sdk.strkey import StrKey

from liquifact_core.errors import Conflict
from liquifact_core.escrow import I128_MAX, U64_MAX, EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.indexing import EscrowProjection, IndexerCursor, LinkedEscrow
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.ports import Store
from tests.factories import account_address, contract_address

from .contract_support import T0, invoice, new_tenant, save

S = InvoiceStatus


def linked(tenant: str, status: InvoiceStatus = S.LINKED_ESCROW, **changes: object) -> Invoice:
    values: dict[str, object] = {
        "status": status,
        "escrow_address": contract_address(),
        "funding_target_stroops": 10_000_000,
    }
    values.update(changes)
    return invoice(tenant, **values)


def projection_of(item: Invoice, **changes: object) -> EscrowProjection:
    assert item.escrow_address is not None
    escrow = InvoiceEscrow(
        invoice_id="inv_01TEST",
        admin=account_address(),
        sme_address=StrKey.encode_contract(bytes(32)),
        amount=2**63 - 1,
        funding_target=I128_MAX,
        funded_amount=I128_MAX - 1,
        yield_bps=10_000,
        maturity=U64_MAX,
        status=EscrowStatus.FUNDED,
    )
    values: dict[str, object] = {
        "tenant_id": item.tenant_id,
        "invoice_id": item.id,
        "contract": item.escrow_address,
        "reading": EscrowReading(escrow, legal_hold=True, paused=False),
        "ledger": 2**31,
        "updated_at": T0,
    }
    values.update(changes)
    return EscrowProjection(**values)  # type: ignore[arg-type]


def test_a_projection_round_trips_exactly(store: Store, tenant: str) -> None:
    item = linked(tenant)
    save(store, item)
    projection = projection_of(item)
    with store.unit_of_work(tenant) as uow:
        assert uow.escrows.get(tenant, item.id) is None
        uow.escrows.put(projection)
        uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.escrows.get(tenant, item.id) == projection


def test_a_projection_is_replaced_not_duplicated(store: Store, tenant: str) -> None:
    item = linked(tenant)
    save(store, item)
    first = projection_of(item)
    escrow = attrs.evolve(first.reading.escrow, funded_amount=0, status=EscrowStatus.OPEN)
    second = attrs.evolve(
        first,
        reading=EscrowReading(escrow, legal_hold=False, paused=True),
        ledger=first.ledger + 1,
        updated_at=T0 + timedelta(seconds=5),
    )
    for projection in (first, second):
        with store.unit_of_work(tenant) as uow:
            uow.escrows.put(projection)
            uow.commit()
    with store.read_unit(tenant) as uow:
        assert uow.escrows.get(tenant, item.id) == second


def test_the_cursor_round_trips_and_is_replaced(store: Store, tenant: str) -> None:
    with store.read_unit(tenant) as uow:
        assert uow.escrows.cursor(tenant) is None
    previous = None
    for cursor in (
        IndexerCursor(tenant, None, 0, T0),
        IndexerCursor(tenant, None, 4200, T0 + timedelta(seconds=30)),
        IndexerCursor(tenant, "0000000000000004242-0000000001", 4242, T0 + timedelta(minutes=1)),
        IndexerCursor(tenant, "0000000000000004250-0000000000", 4250, T0 + timedelta(minutes=2)),
    ):
        with store.unit_of_work(tenant) as uow:
            uow.escrows.put_cursor(cursor, replacing=previous)
            uow.commit()
        with store.read_unit(tenant) as uow:
            assert uow.escrows.cursor(tenant) == cursor
        previous = cursor


def test_the_cursor_moves_only_from_the_position_its_writer_read(store: Store, tenant: str) -> None:
    first = IndexerCursor(tenant, "0000000000000000100-0000000000", 100, T0)
    with store.unit_of_work(tenant) as uow:
        uow.escrows.put_cursor(first, replacing=None)
        uow.commit()
    later = T0 + timedelta(minutes=1)
    ahead = IndexerCursor(tenant, "0000000000000000120-0000000000", 120, later)
    behind = IndexerCursor(tenant, "0000000000000000110-0000000000", 110, later)
    with store.unit_of_work(tenant) as uow:
        uow.escrows.put_cursor(ahead, replacing=first)
        uow.commit()

    # Two passes read ``first``; the slower one must not put its older position back, and a
    # second "first" cursor is refused too. Nothing of the refused unit is written.
    item = linked(tenant)
    save(store, item)
    for stale in (first, None, attrs.evolve(ahead, cursor=None), attrs.evolve(ahead, ledger=1)):
        with store.unit_of_work(tenant) as uow:
            uow.escrows.put(projection_of(item))
            with pytest.raises(Conflict) as refused:
                uow.escrows.put_cursor(behind, replacing=stale)
        assert refused.value.code == "CONCURRENT_UPDATE"
        assert refused.value.retryable
    with store.read_unit(tenant) as uow:
        assert uow.escrows.cursor(tenant) == ahead
        assert uow.escrows.get(tenant, item.id) is None


def test_an_uncommitted_unit_writes_neither_projection_nor_cursor(
    store: Store, tenant: str
) -> None:
    item = linked(tenant)
    save(store, item)
    with store.unit_of_work(tenant) as uow:
        uow.escrows.put(projection_of(item))
        uow.escrows.put_cursor(IndexerCursor(tenant, "c", 7, T0), replacing=None)
    with store.read_unit(tenant) as uow:
        assert uow.escrows.get(tenant, item.id) is None
        assert uow.escrows.cursor(tenant) is None


def test_a_unit_serves_only_its_tenant(store: Store, tenant: str) -> None:
    other = new_tenant()
    item = linked(other)
    save(store, item)
    with store.unit_of_work(tenant) as uow:
        with pytest.raises(PermissionError):
            uow.escrows.put(projection_of(item))
        with pytest.raises(PermissionError):
            uow.escrows.get(other, item.id)
        with pytest.raises(PermissionError):
            uow.escrows.put_cursor(IndexerCursor(other, None, 0, T0), replacing=None)
        with pytest.raises(PermissionError):
            uow.escrows.cursor(other)


def test_linked_escrows_lists_exactly_the_indexed_states_of_every_tenant(
    store: Store, tenant: str
) -> None:
    other = new_tenant()
    indexed = [
        linked(tenant, S.LINKED_ESCROW),
        linked(tenant, S.PARTIALLY_FUNDED, funded_stroops=5),
        linked(other, S.FUNDED, funded_stroops=10_000_000),
        linked(other, S.DISBURSED, funded_stroops=10_000_000),
    ]
    not_indexed = [
        invoice(tenant, status=S.APPROVED),
        linked(tenant, S.SETTLED),
        linked(tenant, S.CANCELLED),
        linked(other, S.DEFAULTED),
        linked(other, S.FUNDED, deleted_at=T0),
    ]
    for item in (*indexed, *not_indexed):
        save(store, item)

    mine = [e for e in store.linked_escrows() if e.tenant_id in {tenant, other}]
    expected = sorted(
        (LinkedEscrow(i.tenant_id, i.id, str(i.escrow_address)) for i in indexed),
        key=lambda e: (e.tenant_id, e.invoice_id),
    )
    assert sorted(mine, key=lambda e: (e.tenant_id, e.invoice_id)) == expected
    listed = store.linked_escrows()
    keys = [(e.tenant_id, e.invoice_id) for e in listed]
    assert keys == sorted(keys)


def test_indexer_progress_spans_the_cursors_of_every_tenant(store: Store) -> None:
    first, second = new_tenant(), new_tenant()
    # Far in the past, so other tests' cursors on a shared database do not decide the oldest
    # time; the ledgers are bounds other tests' cursors may only widen.
    old = T0 - timedelta(days=3650)
    for tenant, ledger, at in ((first, 1, old), (second, 3, T0)):
        with store.unit_of_work(tenant) as uow:
            uow.escrows.put_cursor(IndexerCursor(tenant, None, ledger, at), replacing=None)
            uow.commit()
    progress = store.indexer_progress()
    assert progress.oldest_ledger is not None and progress.oldest_ledger <= 1
    assert progress.newest_ledger is not None and progress.newest_ledger >= 3
    assert progress.oldest_run_at is not None and progress.oldest_run_at <= old
