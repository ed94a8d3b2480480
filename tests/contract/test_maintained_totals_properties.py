"""Property: the totals a store maintains (migration 0016's counters and marketplace
generations; the memory store's equivalents) always equal a fresh count, under random
sequences of submits, lifecycle moves, fundings, deletes and profile changes, one per unit
of work or several in one, committed or rolled back, with refused writes in between; and
every ``meta.total`` the store answers (invoice lists, the marketplace with and without
filters, first pages and cursor pages) equals the reference count of the model, on every
store."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from liquifact_core.amounts import Money, Stroops
from liquifact_core.errors import Conflict
from liquifact_core.invoices import Actor, Invoice, InvoiceDraft
from liquifact_core.lifecycle import INVESTABLE, TRANSITIONS, InvoiceStatus, Role
from liquifact_core.marketplace import (
    Keyset,
    MarketplaceFilters,
    MarketplaceQuery,
    page_in_memory,
    sort_value,
)
from liquifact_core.ports import InvoiceQuery, Store, UnitOfWork
from liquifact_core.profiles import SmeProfile
from liquifact_core.search import fold
from tests.factories import contract_address

from .contract_support import T0, new_tenant
from .totals_support import Query, maintained_and_fresh, raw_query

SMES = ("sme-a", "sme-b")
CHAIN = Actor("indexer", Role.CHAIN)
FUNDING = frozenset({InvoiceStatus.PARTIALLY_FUNDED, InvoiceStatus.FUNDED})
TARGET = 1000

# Totals asked for after every step: every filter kind the stores count differently.
MARKET_FILTERS = (
    MarketplaceFilters(),
    MarketplaceFilters(statuses=frozenset({InvoiceStatus.PARTIALLY_FUNDED})),
    MarketplaceFilters(statuses=frozenset({InvoiceStatus.PENDING})),
    MarketplaceFilters(yield_bps_min=400),
    MarketplaceFilters(funded_ratio_min=5000, statuses=frozenset(INVESTABLE)),
    MarketplaceFilters(currency="EUR"),
    MarketplaceFilters(search=fold("acme")),
)
LIST_STATUSES: tuple[frozenset[InvoiceStatus], ...] = (
    frozenset(),
    frozenset(INVESTABLE),
    frozenset({InvoiceStatus.PENDING}),
    frozenset({InvoiceStatus.FUNDED, InvoiceStatus.CANCELLED}),
)


def _operator_for(current: InvoiceStatus, target: InvoiceStatus) -> Actor:
    roles = TRANSITIONS[current][target].roles
    return Actor("admin-1", Role.ADMIN) if Role.ADMIN in roles else CHAIN


class TotalsMachine(RuleBasedStateMachine):
    """The model is the dict of invoices (and profiles) the store should hold for one tenant."""

    def __init__(self, store: Store, query: Query | None) -> None:
        super().__init__()
        self.store = store
        self.query = query
        self.tenant = new_tenant()
        self.model: dict[str, Invoice] = {}
        self.profiles: dict[str, SmeProfile] = {}
        self.serial = 0
        self.now = T0

    # ---- building changes (applied to a unit and to a pending copy of the model) --------------
    def _tick(self) -> None:
        self.now += timedelta(seconds=1)

    def _new_invoice(self, data: st.DataObject) -> Invoice:
        self.serial += 1
        self._tick()
        return Invoice(
            id=f"inv_t{self.serial:05d}",
            tenant_id=self.tenant,
            sme_id=data.draw(st.sampled_from(SMES), label="sme"),
            draft=InvoiceDraft(
                invoice_number=f"INV-{self.serial}",
                buyer_name=data.draw(st.sampled_from(["Acme Buyer", "Zeta GmbH"]), label="buyer"),
                amount=Money(Decimal("100.00"), data.draw(st.sampled_from(["USD", "EUR"]))),
                issue_date=date(2026, 3, 1),
                due_date=date(2026, 6, 1),
                yield_bps=data.draw(st.sampled_from([100, 450, 900]), label="yield"),
            ),
            status=InvoiceStatus.PENDING,
            version=1,
            created_at=self.now,
            updated_at=self.now,
        )

    def _live(self, model: dict[str, Invoice]) -> list[Invoice]:
        return sorted(
            (invoice for invoice in model.values() if invoice.deleted_at is None),
            key=lambda invoice: invoice.id,
        )

    def _change(self, uow: UnitOfWork, model: dict[str, Invoice], data: st.DataObject) -> None:
        """One random change, written through ``uow`` and recorded in ``model``."""
        live = self._live(model)
        kind = data.draw(
            st.sampled_from(["submit", "move", "fund", "delete"] if live else ["submit"]),
            label="change",
        )
        if kind == "submit":
            created = self._new_invoice(data)
            uow.invoices.add(created)
            model[created.id] = created
            return
        current = data.draw(st.sampled_from(live), label="invoice")
        self._tick()
        if kind == "delete":
            gone = attrs.evolve(
                current, deleted_at=self.now, updated_at=self.now, version=current.version + 1
            )
            uow.invoices.update(gone, current.version)
            model[current.id] = gone
            return
        if kind == "fund":
            if current.status not in INVESTABLE:
                return
            funded = data.draw(st.sampled_from([0, 1, TARGET // 2, TARGET - 1, TARGET]))
            updated, _step = current.record_funding(funded, CHAIN, self.now)
            if updated is current:
                return
            uow.invoices.update(updated, current.version)
            model[current.id] = updated
            return
        targets = sorted(set(TRANSITIONS[current.status]) - FUNDING)
        if not targets:
            return
        target = data.draw(st.sampled_from(targets), label="target")
        moved, _step = current.move_to(
            target,
            _operator_for(current.status, target),
            self.now,
            reason="by the property test",
            escrow_address=contract_address(),
            funding_target=Stroops(TARGET),
        )
        uow.invoices.update(moved, current.version)
        model[current.id] = moved

    # ---- rules ---------------------------------------------------------------------------------
    @rule(data=st.data())
    def one_change(self, data: st.DataObject) -> None:
        model = dict(self.model)
        with self.store.unit_of_work(self.tenant) as uow:
            self._change(uow, model, data)
            uow.commit()
        self.model = model

    @rule(
        data=st.data(),
        changes=st.integers(2, 5),
        refused_first=st.booleans(),
        commit=st.booleans(),
    )
    def several_changes(
        self, data: st.DataObject, changes: int, refused_first: bool, commit: bool
    ) -> None:
        """Several changes in one unit (several statements in one transaction), after a write
        the store refuses when ``refused_first`` (the unit goes on), kept or rolled back."""
        model = dict(self.model)
        with self.store.unit_of_work(self.tenant) as uow:
            live = self._live(model)
            if refused_first and live:
                taken = live[0]
                twin = attrs.evolve(self._new_invoice(data), sme_id=taken.sme_id)
                twin = attrs.evolve(
                    twin, draft=attrs.evolve(twin.draft, invoice_number=taken.draft.invoice_number)
                )
                with pytest.raises(Conflict):
                    uow.invoices.add(twin)
            for _ in range(changes):
                self._change(uow, model, data)
            if commit:
                uow.commit()
        if commit:
            self.model = model

    @precondition(lambda self: bool(self.model))
    @rule(sme=st.sampled_from(SMES), name=st.sampled_from(["ACME Trading", "Nordwind", "acmé"]))
    def profile(self, sme: str, name: str) -> None:
        self._tick()
        profile = SmeProfile(self.tenant, sme, name, "DE", self.now)
        with self.store.unit_of_work(self.tenant) as uow:
            uow.profiles.upsert(profile)
            uow.commit()
        self.profiles[sme] = profile

    # ---- invariants ----------------------------------------------------------------------------
    @invariant()
    def counters_equal_a_fresh_count(self) -> None:
        maintained, fresh = maintained_and_fresh(self.store, self.query, self.tenant)
        assert maintained == fresh

    @invariant()
    def list_totals_are_exact(self) -> None:
        live = self._live(self.model)
        with self.store.read_unit(self.tenant) as uow:
            for sme in (None, *SMES):
                for statuses in LIST_STATUSES:
                    page = uow.invoices.list(InvoiceQuery(self.tenant, statuses, sme, limit=1))
                    expected = sum(
                        1
                        for invoice in live
                        if (sme is None or invoice.sme_id == sme)
                        and (not statuses or invoice.status in statuses)
                    )
                    assert page.total == expected, (sme, statuses)

    @invariant()
    def marketplace_totals_are_exact(self) -> None:
        invoices = list(self.model.values())
        profiles = list(self.profiles.values())
        for filters in MARKET_FILTERS:
            query = MarketplaceQuery(self.tenant, filters, limit=2)
            expected = page_in_memory(invoices, query, profiles)
            with self.store.read_unit(self.tenant) as uow:
                first = uow.invoices.marketplace(query)
                assert first.total == expected.total, filters
                if first.items:
                    last = first.items[-1].invoice
                    after = Keyset(sort_value(last, query.sort), last.id)
                    following = uow.invoices.marketplace(attrs.evolve(query, after=after))
                    assert following.total == expected.total, filters
            with self.store.unit_of_work(self.tenant) as uow:
                assert uow.invoices.marketplace(query).total == expected.total, filters


@pytest.mark.slow
def test_maintained_totals_equal_fresh_counts(
    store: Store, store_kind: str, request: pytest.FixtureRequest
) -> None:
    query = raw_query(store_kind, request, store)

    class OnThisStore(TotalsMachine):
        def __init__(self) -> None:
            super().__init__(store, query)

    run_state_machine_as_test(
        OnThisStore,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
