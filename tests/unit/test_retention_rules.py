"""The pure retention rules (issue 16): policy fields, and what a purge decides and erases,
property-tested over policies, holds, closing times and invoices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.errors import ValidationError
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.retention import (
    PURGED_BUYER_NAME,
    ClosedInvoice,
    HoldRequest,
    LegalHold,
    LegalHoldType,
    PiiField,
    PolicyDraft,
    RetentionPolicy,
    Verdict,
    closed_before,
    decide,
    erase,
    field_presence,
    is_closed,
    new_policy,
    present_fields,
)
from tests.contract.contract_support import invoice

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _policy(days: int, *fields: PiiField, active: bool = True, n: int = 1) -> RetentionPolicy:
    draft = PolicyDraft(
        name=f"p{n}", retention_days=days, pii_fields=frozenset(fields), active=active
    )
    return new_policy(f"rpol_{n}", "t1", draft, "ops", NOW)


def _closed(**changes: object) -> ClosedInvoice:
    values: dict[str, object] = {
        "status": InvoiceStatus.SETTLED,
        "buyer_email": "ap@buyer.example",
        "buyer_tax_id": "DE123",
        **changes,
    }
    return ClosedInvoice(invoice("t1", **values), NOW - timedelta(days=100))


def _hold(invoice_id: str, released: bool = False) -> LegalHold:
    return LegalHold(
        "hold_1",
        "t1",
        invoice_id,
        LegalHoldType.LITIGATION,
        "case",
        "ops",
        NOW,
        released_at=NOW if released else None,
        released_by="ops" if released else None,
    )


# ---- commands ---------------------------------------------------------------------------------
def _draft(**raw: Any) -> PolicyDraft:
    """A policy as the wire sends it (JSON values), checked by the rules."""
    return PolicyDraft(**raw)


def _hold_request(**raw: Any) -> HoldRequest:
    return HoldRequest(**raw)


@pytest.mark.parametrize("days", [1, 36_500])
def test_retention_days_range_is_inclusive(days: int) -> None:
    assert _draft(name="p", retention_days=days, pii_fields=["buyerName"]).retention_days == days


@pytest.mark.parametrize("days", [0, 36_501, -1, "30", 1.5, True, None])
def test_retention_days_outside_the_range_are_refused(days: object) -> None:
    with pytest.raises(ValidationError) as refused:
        _draft(name="p", retention_days=days, pii_fields=["buyerName"])
    assert [e.field for e in refused.value.field_errors] == ["retentionDays"]


@pytest.mark.parametrize(
    "fields", [[], ["buyerName", "buyerName"], ["amount"], "buyerName", [1], None]
)
def test_pii_fields_are_a_non_empty_subset_without_repeats(fields: object) -> None:
    with pytest.raises(ValidationError) as refused:
        _draft(name="p", retention_days=1, pii_fields=fields)
    assert [e.field for e in refused.value.field_errors] == ["piiFields"]


def test_a_policy_names_every_bad_field_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        _draft(name="", retention_days=0, pii_fields=[], active="yes")
    assert {e.field for e in refused.value.field_errors} == {
        "name",
        "retentionDays",
        "piiFields",
        "active",
    }


def test_a_hold_needs_an_invoice_a_type_and_a_reason() -> None:
    hold = _hold_request(invoice_id="inv_1", type="regulatory", reason="  audit 2026 ")
    assert (hold.type, hold.reason) == (LegalHoldType.REGULATORY, "audit 2026")
    with pytest.raises(ValidationError) as refused:
        _hold_request(invoice_id="INV-1", type="lawsuit", reason="")
    assert {e.field for e in refused.value.field_errors} == {"invoiceId", "type", "reason"}


# ---- decisions --------------------------------------------------------------------------------
def test_open_invoices_are_never_purged() -> None:
    for status in (InvoiceStatus.PENDING, InvoiceStatus.FUNDED, InvoiceStatus.DISBURSED):
        candidate = _closed(status=status)
        assert not is_closed(candidate.invoice)
        assert decide(candidate, [_policy(1, *PiiField)], None, NOW) is None


def test_a_deleted_invoice_is_closed() -> None:
    assert is_closed(invoice("t1", deleted_at=NOW))


def test_the_fields_due_are_those_of_the_policies_that_ran_out() -> None:
    candidate = _closed()  # closed 100 days ago
    policies = [
        _policy(30, PiiField.BUYER_EMAIL, n=1),
        _policy(90, PiiField.BUYER_TAX_ID, n=2),
        _policy(365, PiiField.BUYER_NAME, n=3),  # not yet
        _policy(1, PiiField.BUYER_NAME, active=False, n=4),  # inactive
    ]

    decision = decide(candidate, policies, None, NOW)

    assert decision is not None
    assert decision.verdict is Verdict.PURGE
    assert decision.fields == {PiiField.BUYER_EMAIL, PiiField.BUYER_TAX_ID}
    assert decision.policy_ids == ("rpol_1", "rpol_2")
    assert closed_before(policies, NOW) == NOW - timedelta(days=30)
    assert closed_before([policies[3]], NOW) is None


def test_an_active_hold_keeps_everything_and_a_released_one_does_not() -> None:
    candidate = _closed()
    policies = [_policy(30, *PiiField)]

    held = decide(candidate, policies, _hold(candidate.invoice.id), NOW)
    released = decide(candidate, policies, _hold(candidate.invoice.id, released=True), NOW)

    assert held is not None and held.verdict is Verdict.HELD and held.hold_id == "hold_1"
    assert released is not None and released.verdict is Verdict.PURGE


def test_erasing_nulls_email_and_tax_id_and_marks_the_name() -> None:
    candidate = _closed()
    before = candidate.invoice

    after = erase(before, PiiField, NOW)

    assert (after.draft.buyer_email, after.draft.buyer_tax_id) == (None, None)
    assert after.draft.buyer_name == PURGED_BUYER_NAME
    assert (after.version, after.updated_at) == (before.version + 1, NOW)
    assert attrs.evolve(after.draft, buyer_name="x", buyer_email=None, buyer_tax_id=None) == (
        attrs.evolve(before.draft, buyer_name="x", buyer_email=None, buyer_tax_id=None)
    )
    assert present_fields(after) == frozenset()
    assert field_presence(before, PiiField) == {
        "buyerEmail": "[present]",
        "buyerName": "[present]",
        "buyerTaxId": "[present]",
    }
    assert field_presence(after, PiiField) == {
        "buyerEmail": None,
        "buyerName": PURGED_BUYER_NAME,
        "buyerTaxId": None,
    }


_FIELDS = st.frozensets(st.sampled_from(list(PiiField)), min_size=1)
_POLICIES = st.lists(
    st.builds(
        lambda days, fields, active: (days, fields, active),
        st.integers(1, 400),
        _FIELDS,
        st.booleans(),
    ),
    max_size=4,
)


@given(
    _POLICIES,
    st.integers(0, 500),
    st.booleans(),
    st.sampled_from(list(InvoiceStatus)),
    st.booleans(),
    st.booleans(),
)
def test_a_purge_never_touches_a_held_invoice_or_erases_early(
    specs: list[tuple[int, frozenset[PiiField], bool]],
    age_days: int,
    held: bool,
    status: InvoiceStatus,
    deleted: bool,
    has_email: bool,
) -> None:
    policies = [
        _policy(days, *fields, active=active, n=n) for n, (days, fields, active) in enumerate(specs)
    ]
    found = invoice(
        "t1",
        status=status,
        deleted_at=NOW if deleted else None,
        buyer_email="ap@buyer.example" if has_email else None,
    )
    candidate = ClosedInvoice(found, NOW - timedelta(days=age_days))
    hold = _hold(found.id) if held else None

    decision = decide(candidate, policies, hold, NOW)

    if decision is None:
        return
    assert is_closed(found)
    assert decision.fields <= present_fields(found)
    for field in decision.fields:
        # Some active policy naming the field has run out for this invoice.
        assert any(
            p.active and field in p.pii_fields and candidate.closed_at + p.retention <= NOW
            for p in policies
        )
    if held:
        assert decision.verdict is Verdict.HELD
        return
    assert decision.verdict is Verdict.PURGE
    erased = erase(found, decision.fields, NOW)
    assert present_fields(erased) == present_fields(found) - decision.fields
    # Erasing is final: the same decision at the same time finds nothing more to do.
    again = decide(ClosedInvoice(erased, candidate.closed_at), policies, None, NOW)
    assert again is None or not (again.fields & decision.fields)
