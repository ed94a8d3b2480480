"""``Checked.trusted``: values that already passed a command's rules, rebuilt without them.

The SQL stores read invoice drafts back this way. That is only sound because every rule is
idempotent on its own output: checking a checked draft's values again gives the same draft.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liquifact_core.errors import ValidationError
from liquifact_core.invoices import InvoiceDraft
from liquifact_http.wire import structure
from tests.factories import invoice_draft, invoice_payload


def fields_of(draft: InvoiceDraft) -> dict[str, Any]:
    return attrs.asdict(draft, recurse=False)


def test_a_trusted_draft_equals_the_checked_one() -> None:
    draft = invoice_draft(description="Net 30", metadata={"po": "PO-1", "lines": [1, 2.5]})
    assert InvoiceDraft.trusted(**fields_of(draft)) == draft


def test_trusted_runs_no_rule() -> None:
    # Only for values read back from the store: a value no rule would accept is kept as is.
    values = {**fields_of(invoice_draft()), "invoice_number": ""}
    with pytest.raises(ValidationError):
        InvoiceDraft(**values)
    assert InvoiceDraft.trusted(**values).invoice_number == ""


def test_trusted_fills_defaults_and_refuses_missing_or_unknown_fields() -> None:
    values = fields_of(invoice_draft())
    del values["metadata"], values["description"]
    first, second = InvoiceDraft.trusted(**values), InvoiceDraft.trusted(**values)
    assert first.metadata == {} and first.description is None
    assert first.metadata is not second.metadata  # a factory default is made per instance
    del values["buyer_name"]
    with pytest.raises(TypeError, match="buyer_name"):
        InvoiceDraft.trusted(**values)
    with pytest.raises(TypeError, match="colour"):
        InvoiceDraft.trusted(**fields_of(invoice_draft()), colour="red")


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@given(number=_TEXT, buyer=_TEXT, description=st.one_of(st.none(), _TEXT), note=_TEXT)
def test_checking_a_checked_draft_again_changes_nothing(
    number: str, buyer: str, description: str | None, note: str
) -> None:
    payload = invoice_payload(
        invoiceNumber=number, buyerName=buyer, description=description, metadata={"note": note}
    )
    try:
        draft = structure(payload, InvoiceDraft)
    except ValidationError:
        return  # refused input never reaches a store
    # What the store holds is the checked draft's values; the rules leave them as they are.
    assert InvoiceDraft(**fields_of(draft)) == draft
    assert InvoiceDraft.trusted(**fields_of(draft)) == draft
