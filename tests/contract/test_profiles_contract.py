"""ProfileRepository, and the marketplace's issuers and name, currency and status filters,
against every store, compared with the reference semantics (``page_in_memory``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import (
    MarketItem,
    MarketplaceFilters,
    MarketplaceQuery,
    SortField,
    SortOrder,
    page_in_memory,
)
from liquifact_core.ports import Store
from liquifact_core.profiles import SmeProfile
from liquifact_core.search import fold

from .contract_support import T0, money, new_tenant, save
from .market_support import listed


def _profile(
    tenant: str, subject: str, name: str, country: str = "FR", at: datetime = T0
) -> SmeProfile:
    return SmeProfile(tenant, subject, name, country, at)


def _put(store: Store, *profiles: SmeProfile) -> None:
    for profile in profiles:
        with store.unit_of_work(profile.tenant_id) as uow:
            uow.profiles.upsert(profile)
            uow.commit()


def _page(store: Store, query: MarketplaceQuery):  # type: ignore[no-untyped-def]
    with store.read_unit(query.tenant_id) as uow:
        return uow.invoices.marketplace(query)


def test_a_profile_is_created_replaced_and_read_back(store: Store, tenant: str) -> None:
    with store.unit_of_work(tenant) as uow:
        assert uow.profiles.get(tenant, "sme-1") is None
    first = _profile(tenant, "sme-1", "Société Générale", "FR")
    _put(store, first)
    with store.unit_of_work(tenant) as uow:
        assert uow.profiles.get(tenant, "sme-1") == first
    replaced = _profile(tenant, "sme-1", "Müller GmbH", "DE", T0 + timedelta(hours=1))
    _put(store, replaced)
    with store.read_unit(tenant) as uow:
        assert uow.profiles.get(tenant, "sme-1") == replaced
        assert uow.profiles.get(tenant, "sme-2") is None


def test_profiles_belong_to_one_tenant(store: Store, tenant: str) -> None:
    other = new_tenant()
    _put(store, _profile(other, "sme-1", "Elsewhere Ltd"))
    with store.unit_of_work(tenant) as uow:
        assert uow.profiles.get(tenant, "sme-1") is None
        with pytest.raises(PermissionError):
            uow.profiles.get(other, "sme-1")
        with pytest.raises(PermissionError):
            uow.profiles.upsert(_profile(other, "sme-1", "Hijack"))


def test_an_uncommitted_profile_is_not_stored(store: Store, tenant: str) -> None:
    with store.unit_of_work(tenant) as uow:
        uow.profiles.upsert(_profile(tenant, "sme-1", "Never"))
    with store.unit_of_work(tenant) as uow:
        assert uow.profiles.get(tenant, "sme-1") is None


def test_marketplace_items_carry_their_issuer(store: Store, tenant: str) -> None:
    known = listed(tenant, sme_id="sme-known")
    unknown = listed(tenant, sme_id="sme-unknown")
    save(store, known, unknown)
    issuer = _profile(tenant, "sme-known", "Crème Brûlée SARL")
    _put(store, issuer, _profile(new_tenant(), "sme-unknown", "Other tenant's SME"))

    page = _page(store, MarketplaceQuery(tenant, sort=SortField.CREATED_AT, limit=10))

    expected = [MarketItem(known, issuer), MarketItem(unknown, None)]
    assert sorted(page.items, key=lambda item: item.invoice.id) == sorted(
        expected, key=lambda item: item.invoice.id
    )


def _names_world(store: Store, tenant: str) -> list[MarketItem]:
    rows = [
        listed(tenant, sme_id="sme-a", buyer_name="Bäckerei Müller", amount=money("10", "EUR")),
        listed(tenant, sme_id="sme-b", buyer_name="Acme 100% Ltd", funded=10),
        listed(tenant, sme_id="sme-b", buyer_name="Under_score Inc"),
        listed(tenant, sme_id="sme-c", buyer_name="Back\\slash plc", amount=money("5", "EUR")),
        listed(tenant, sme_id="sme-c", buyer_name="Plain Buyer", status=InvoiceStatus.FUNDED),
    ]
    save(store, *rows)
    profiles = [
        _profile(tenant, "sme-a", "Société Lyonnaise"),
        _profile(tenant, "sme-b", "\uff2e\uff2f\uff32\uff24 Trading", "DK"),
    ]
    _put(store, *profiles)
    return page_in_memory(rows, MarketplaceQuery(tenant, limit=100), profiles).items  # type: ignore[return-value]


SEARCHES = {
    "accent-free query finds accented issuer": MarketplaceFilters(search=fold("Societe")),
    "upper case finds accented buyer": MarketplaceFilters(search=fold("MULLER")),
    "fullwidth issuer": MarketplaceFilters(search=fold("nord")),
    "percent is literal": MarketplaceFilters(search=fold("100%")),
    "percent alone matches only a percent": MarketplaceFilters(search=fold("%")),
    "underscore is literal": MarketplaceFilters(search=fold("r_s")),
    "underscore alone": MarketplaceFilters(search=fold("_")),
    "escape character is literal": MarketplaceFilters(search=fold("k\\s")),
    "no match": MarketplaceFilters(search=fold("zzz")),
    "currency": MarketplaceFilters(currency="EUR"),
    "status": MarketplaceFilters(statuses=frozenset({InvoiceStatus.PARTIALLY_FUNDED})),
    "both statuses": MarketplaceFilters(
        statuses=frozenset({InvoiceStatus.PARTIALLY_FUNDED, InvoiceStatus.LINKED_ESCROW})
    ),
    "combined": MarketplaceFilters(currency="EUR", search=fold("lyon")),
}
EXPECTED_BUYERS = {
    "accent-free query finds accented issuer": {"Bäckerei Müller"},
    "upper case finds accented buyer": {"Bäckerei Müller"},
    "fullwidth issuer": {"Acme 100% Ltd", "Under_score Inc"},
    "percent is literal": {"Acme 100% Ltd"},
    "percent alone matches only a percent": {"Acme 100% Ltd"},
    "underscore is literal": {"Under_score Inc"},
    "underscore alone": {"Under_score Inc"},
    "escape character is literal": {"Back\\slash plc"},
    "no match": set(),
    "currency": {"Bäckerei Müller", "Back\\slash plc"},
    "status": {"Acme 100% Ltd"},
    "both statuses": {"Bäckerei Müller", "Acme 100% Ltd", "Under_score Inc", "Back\\slash plc"},
    "combined": {"Bäckerei Müller"},
}


@pytest.mark.parametrize("case", SEARCHES, ids=list(SEARCHES))
def test_name_currency_and_status_filters_agree_with_the_reference(
    store: Store, tenant: str, case: str
) -> None:
    items = _names_world(store, tenant)
    filters = SEARCHES[case]
    rows = [item.invoice for item in items]
    profiles = [item.issuer for item in items if item.issuer is not None]
    for sort in (SortField.CREATED_AT, SortField.AMOUNT):
        query = MarketplaceQuery(tenant, filters=filters, sort=sort, limit=2)
        page = _page(store, query)
        assert page == page_in_memory(rows, query, profiles)
        everything = _page(store, attrs.evolve(query, limit=100))
        assert {item.invoice.draft.buyer_name for item in everything.items} == (
            EXPECTED_BUYERS[case]
        )
        assert everything.total == len(EXPECTED_BUYERS[case])


def test_a_changed_buyer_name_changes_what_a_search_finds(store: Store, tenant: str) -> None:
    row = listed(tenant, buyer_name="Old Name")
    save(store, row)
    with store.unit_of_work(tenant) as uow:
        uow.invoices.update(
            attrs.evolve(
                row, version=2, draft=attrs.evolve(row.draft, buyer_name="Nouvelle Épicerie")
            ),
            1,
        )
        uow.commit()
    found = _page(store, MarketplaceQuery(tenant, MarketplaceFilters(search=fold("EPICERIE"))))
    assert [item.invoice.id for item in found.items] == [row.id]
    assert _page(store, MarketplaceQuery(tenant, MarketplaceFilters(search="old"))).total == 0


def test_a_changed_profile_changes_what_a_search_finds(store: Store, tenant: str) -> None:
    row = listed(tenant, sme_id="sme-1", buyer_name="Buyer")
    save(store, row)
    _put(store, _profile(tenant, "sme-1", "Alpha"))
    _put(store, _profile(tenant, "sme-1", "Beta"))
    assert _page(store, MarketplaceQuery(tenant, MarketplaceFilters(search="alpha"))).total == 0
    (item,) = _page(store, MarketplaceQuery(tenant, MarketplaceFilters(search="beta"))).items
    assert item.issuer is not None and item.issuer.display_name == "Beta"


# ---- property: every store agrees with the reference for random names and searches --------
_LETTERS = st.sampled_from(["a", "A", "é", "É", "e", "ü", "u", "%", "_", "\\", " ", "ß", "ss"])
_NAMES = st.lists(_LETTERS, min_size=1, max_size=6).map("".join).filter(lambda s: s.strip())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_name_searches_agree_with_the_reference(store: Store, data: st.DataObject) -> None:
    tenant = f"tenant-{uuid4().hex}"
    count = data.draw(st.integers(0, 6), label="invoices")
    rows = [
        listed(
            tenant,
            id=f"inv_q{n:03d}",
            sme_id=f"sme-{data.draw(st.integers(0, 2), label='sme')}",
            buyer_name=data.draw(_NAMES, label="buyer").strip(),
            amount=money("10", data.draw(st.sampled_from(["USD", "EUR"]), label="currency")),
            funded=data.draw(st.sampled_from([0, 10]), label="funded"),
        )
        for n in range(count)
    ]
    if rows:
        save(store, *rows)
    profiles = [
        _profile(tenant, f"sme-{n}", data.draw(_NAMES, label="display name").strip())
        for n in range(3)
        if data.draw(st.booleans(), label="has profile")
    ]
    _put(store, *profiles)
    filters = MarketplaceFilters(
        search=data.draw(st.none() | _NAMES.map(fold), label="q"),
        currency=data.draw(st.none() | st.sampled_from(["USD", "EUR"]), label="currency filter"),
        statuses=data.draw(
            st.sampled_from(
                [frozenset(), frozenset({InvoiceStatus.LINKED_ESCROW})],
            ),
            label="statuses",
        ),
    )
    order = data.draw(st.sampled_from(list(SortOrder)), label="order")
    query = MarketplaceQuery(tenant, filters=filters, order=order, limit=3)
    assert _page(store, query) == page_in_memory(rows, query, profiles)
