"""The search folding, the profile and registration commands, and the marketplace's new
filters as the core states them (the reference semantics the stores are held to)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from liquifact_core.errors import ValidationError
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import InvestableStatus, MarketplaceFilters, MarketplaceSearch
from liquifact_core.profiles import ProfileUpdate, SmeProfile
from liquifact_core.search import contains_pattern, fold
from liquifact_core.wallets import SelfRegistration, SelfServiceRole
from tests.contract.contract_support import T0, invoice


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Société Générale", "societe generale"),
        ("SOCIETE", "societe"),
        ("Müller GmbH", "muller gmbh"),
        ("MULLER", "muller"),
        ("Straße", "strasse"),
        ("İstanbul", "istanbul"),
        ("\uff21\uff22\uff23", "abc"),  # fullwidth letters
        ("Ørsted", "ørsted"),  # no decomposition: a letter of its own
        ("100% _done_\\", "100% _done_\\"),
    ],
)
def test_fold_ignores_case_and_accents(text: str, key: str) -> None:
    assert fold(text) == key
    assert fold(key) == key  # a key folds to itself


def test_a_folded_search_finds_accented_names_either_way() -> None:
    assert fold("Societe") in fold("Société Générale")
    assert fold("société") in fold("SOCIETE GENERALE")
    assert fold("MULLER") in fold("Bäckerei Müller")


def test_like_wildcards_and_the_escape_character_are_literal() -> None:
    assert contains_pattern("ab") == "%ab%"
    assert contains_pattern("10%") == "%10\\%%"
    assert contains_pattern("a_b") == "%a\\_b%"
    assert contains_pattern("c:\\x") == "%c:\\\\x%"


def test_a_profile_keeps_its_folded_display_name() -> None:
    profile = SmeProfile("t", "sme-1", "Crème Brûlée SARL", "FR", T0)
    assert profile.display_name_key == "creme brulee sarl"


def test_profile_updates_follow_the_text_and_country_rules() -> None:
    update = ProfileUpdate("  Acme Ltd  ", "GB")
    assert (update.display_name, update.country) == ("Acme Ltd", "GB")
    with pytest.raises(ValidationError) as refused:
        ProfileUpdate("", "gb")
    codes = {(e.field, e.code) for e in refused.value.field_errors}
    assert codes == {("displayName", "INVALID_VALUE"), ("country", "INVALID_COUNTRY")}
    for code in ("XX", "UK", "FRA", "fr"):  # not assigned, not alpha-2, not upper case
        with pytest.raises(ValidationError):
            ProfileUpdate("Acme", code)
    with pytest.raises(ValidationError):
        ProfileUpdate("a" * 121, "FR")


def _registration(**fields: object) -> SelfRegistration:
    return SelfRegistration(**{"transaction": "AAAA", "role": "sme", **fields})  # type: ignore[arg-type]


def test_a_registration_takes_a_profile_for_smes_only_and_whole() -> None:
    registration = _registration(display_name="Acme", country="FR")
    assert registration.profile == ProfileUpdate("Acme", "FR")
    assert _registration().profile is None
    with pytest.raises(ValidationError) as half:
        _registration(display_name="Acme")
    assert [(e.field, e.code) for e in half.value.field_errors] == [
        ("country", "REQUIRED_TOGETHER")
    ]
    with pytest.raises(ValidationError) as investor:
        _registration(role=SelfServiceRole.INVESTOR, display_name="Acme", country="FR")
    assert {(e.field, e.code) for e in investor.value.field_errors} == {
        ("displayName", "NOT_ALLOWED_FOR_ROLE"),
        ("country", "NOT_ALLOWED_FOR_ROLE"),
    }


def test_search_filters_fold_q_and_take_investable_statuses_only() -> None:
    search = MarketplaceSearch(
        q="  Société ", currency="EUR", status=frozenset({InvestableStatus.PARTIALLY_FUNDED})
    )
    filters = search.filters
    assert (filters.search, filters.currency) == ("societe", "EUR")
    assert filters.statuses == frozenset({InvoiceStatus.PARTIALLY_FUNDED})
    with pytest.raises(ValidationError) as refused:
        MarketplaceSearch(status="funded")  # type: ignore[arg-type]
    assert [e.field for e in refused.value.field_errors] == ["status"]
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(ValidationError):
            MarketplaceSearch(q=bad)
    with pytest.raises(ValidationError):
        MarketplaceSearch(currency="usd")


def test_filters_match_buyer_or_issuer_names_currency_and_status() -> None:
    row = invoice("t", buyer_name="Bäckerei Müller", status=InvoiceStatus.LINKED_ESCROW)
    issuer = SmeProfile("t", row.sme_id, "Société Lyonnaise", "FR", T0)
    assert MarketplaceFilters(search="muller").matches(row)
    assert not MarketplaceFilters(search="lyon").matches(row)
    assert MarketplaceFilters(search="lyon").matches(row, issuer)
    assert MarketplaceFilters(currency="USD").matches(row)
    assert not MarketplaceFilters(currency="EUR").matches(row)
    assert not MarketplaceFilters(statuses=frozenset({InvoiceStatus.PARTIALLY_FUNDED})).matches(row)


def test_cursors_of_searches_without_the_new_filters_keep_their_binding() -> None:
    # The canonical text of the first filter set, as cursors issued before the new filters
    # were bound to it: unchanged, so those cursors stay valid.
    old = MarketplaceFilters(yield_bps_min=5, maturity_to=date(2026, 1, 2))
    assert json.loads(old.canonical()) == {
        "amount_max": None,
        "amount_min": None,
        "funded_ratio_max": None,
        "funded_ratio_min": None,
        "maturity_from": None,
        "maturity_to": "2026-01-02",
        "yield_bps_max": None,
        "yield_bps_min": "5",
    }
    both = frozenset({InvoiceStatus.PARTIALLY_FUNDED, InvoiceStatus.LINKED_ESCROW})
    searched = MarketplaceFilters(currency="EUR", statuses=both, search="acme")
    assert json.loads(searched.canonical())["statuses"] == ["linked_escrow", "partially_funded"]
    assert searched.canonical() != MarketplaceFilters(search="acm").canonical()
