"""The text rules (docs/security.md "Text rules") through the use cases, on every store.

Each bad input is refused with the same field and code whatever the store, and nothing is
written: no invoice, no transition, no audit event, no commitment. Text that is accepted is
stored in its NFC form and reads back identically from every store.
"""

from __future__ import annotations

from typing import Any

import pytest

from liquifact_adapters.system import RandomIdGenerator, SystemClock
from liquifact_core.commitments import CommitmentQuery
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.invoices import Actor, Invoice, TransitionReason
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.ports import InvoiceQuery, Store
from liquifact_core.services import Services
from tests.factories import (
    account_address,
    contract_address,
    draft_of,
    funding_of,
    invoice_payload,
    link_of,
    patch_of,
)

from .contract_support import listing, load

SME = Actor("sme-text", Role.SME)
ADMIN = Actor("admin-text", Role.ADMIN)
WALLET = account_address()
INVESTOR = Actor("investor-text", Role.INVESTOR, WALLET)

# Strings that are not Unicode scalar values, or hold NUL: what a JSON "\ud800" escape or a
# library caller can hand over.
UNSTORABLE = {
    "lone high surrogate": "INV-\ud800",
    "lone low surrogate": "INV-\udfff",
    "high surrogate then a letter": "INV-\ud800A",
    "low before high": "INV-\udc00\ud800",
    "NUL": "INV-\x00-1",
}
# Invisible format characters (Unicode category Cf) that make look-alikes of one-line values.
FORMAT = {
    "zero-width space": "INV-\u200b6B0F0",
    "byte-order mark": "\ufeffINV-6B0F0",
    "right-to-left override": "INV-6B0F0\u202e",
    "word joiner": "INV-6B0F0\u2060",
    "left-to-right embedding": "\u202aINV-6B0F0",
    "first strong isolate": "INV-\u20686B0F0\u2069",
    "soft hyphen": "INV-\u00ad6B0F0",
    "only zero-width spaces": "\u200b\u200b",
    # Not Cf, yet shows nothing (validation.INVISIBLE_RANGES).
    "Hangul filler": "INV-6B0F0\u3164",
    "only a Hangul filler": "\u3164",
    "combining grapheme joiner": "INV-\u034f6B0F0",
    "variation selector": "INV-6B0F0\ufe0f",
    "braille blank": "\u2800",
}
# Controls and separators that have no place in one line.
ONE_LINE_BREAKERS = {
    "line feed": "INV-6B\n0F0",
    "tab": "INV-6B\t0F0",
    "escape": "INV-\x1b[31m",
    "next line (C1)": "INV-\x856B0F0",
    "line separator": "INV-\u20286B0F0",
    "paragraph separator": "INV-\u20296B0F0",
}
BAD_ONE_LINE = {**UNSTORABLE, **FORMAT, **ONE_LINE_BREAKERS}
ONE_LINE_FIELDS = ("invoiceNumber", "buyerName", "buyerTaxId")
INVALID_TEXT = "INVALID_TEXT"


@pytest.fixture
def services(store: Store) -> Services:
    return Services.from_ports(store, SystemClock(), RandomIdGenerator())


def submit(services: Services, tenant: str, payload: dict[str, Any]) -> Invoice:
    """Submit a client's camelCase payload: typed by the API's converter, then the use case."""
    return services.invoices.submit(tenant, SME, draft_of(payload))


def field_errors(call: Any, *args: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        call(*args)
    return {(e.field, e.code) for e in raised.value.field_errors}


def assert_nothing_stored(store: Store, tenant: str) -> None:
    assert listing(store, InvoiceQuery(tenant)).total == 0
    with store.unit_of_work(tenant) as uow:
        assert uow.commitments.locks(CommitmentQuery(tenant)).total == 0


def assert_unchanged(store: Store, before: Invoice) -> None:
    assert load(store, before.tenant_id, before.id) == before
    with store.unit_of_work(before.tenant_id) as uow:
        assert len(uow.invoices.history(before.tenant_id, before.id)) == before.version
        events = uow.audit.for_resource(before.tenant_id, "invoice", before.id)
    assert len(list(events)) == before.version


# ---- create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ONE_LINE_FIELDS)
@pytest.mark.parametrize("raw", BAD_ONE_LINE.values(), ids=BAD_ONE_LINE.keys())
def test_one_line_text_breaking_the_rules_is_refused(
    services: Services, store: Store, tenant: str, field: str, raw: str
) -> None:
    found = field_errors(submit, services, tenant, invoice_payload(**{field: raw}))
    assert found == {(field, INVALID_TEXT)}
    assert_nothing_stored(store, tenant)


@pytest.mark.parametrize("raw", [*UNSTORABLE.values(), *FORMAT.values(), "a\x07b", "a\u2028b"])
def test_a_description_breaking_the_rules_is_refused(
    services: Services, store: Store, tenant: str, raw: str
) -> None:
    found = field_errors(submit, services, tenant, invoice_payload(description=raw))
    assert found == {("description", INVALID_TEXT)}
    assert_nothing_stored(store, tenant)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"buyerEmail": "ap\ud800@acme.example"}, {("buyerEmail", INVALID_TEXT)}),
        ({"buyerEmail": "ap\x00@acme.example"}, {("buyerEmail", INVALID_TEXT)}),
        ({"buyerEmail": "ap\u200b@acme.example"}, {("buyerEmail", INVALID_TEXT)}),
        ({"currency": "US\ud800"}, {("currency", "INVALID_CURRENCY")}),
        ({"amount": "12\x00"}, {("amount", "INVALID_VALUE")}),
        ({"issueDate": "2026-01-1\udfff"}, {("issueDate", "INVALID_VALUE")}),
        # Blank once normalised and trimmed: the length rule refuses it.
        ({"buyerName": "\u3000 \u2003"}, {("buyerName", "INVALID_VALUE")}),
        ({"metadata": {"note": "a\x00b"}}, {("metadata", INVALID_TEXT)}),
        ({"metadata": {"a\ud800": 1}}, {("metadata", INVALID_TEXT)}),
        ({"metadata": {"lines": [{"deep": ["ok", "\udfff"]}]}}, {("metadata", INVALID_TEXT)}),
        ({"metadata": {"lines": [{"\x00": "v"}]}}, {("metadata", INVALID_TEXT)}),
    ],
)
def test_other_fields_refuse_bad_text_with_their_own_codes(
    services: Services,
    store: Store,
    tenant: str,
    changes: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    assert field_errors(submit, services, tenant, invoice_payload(**changes)) == (expected)
    assert_nothing_stored(store, tenant)


def test_every_bad_field_is_reported_at_once(services: Services, store: Store, tenant: str) -> None:
    payload = invoice_payload(
        invoiceNumber="INV-\u200b1",
        buyerName="\ud800",
        buyerTaxId="DE\x00",
        description="\u202e",
        metadata={"k": "\x00"},
    )
    assert field_errors(submit, services, tenant, payload) == {
        (name, INVALID_TEXT)
        for name in ("invoiceNumber", "buyerName", "buyerTaxId", "description", "metadata")
    }
    assert_nothing_stored(store, tenant)


def test_text_is_stored_in_nfc_and_reads_back_the_same_on_every_store(
    services: Services, store: Store, tenant: str
) -> None:
    created = submit(
        services,
        tenant,
        invoice_payload(
            invoiceNumber="  INV-e\u0301  ",
            buyerName="Cafe\u0301 Ltd",
            buyerTaxId="A\u030a-42",
            buyerEmail="jose\u0301@acme.example",
            description="Line 1\r\n\tLine 2 \u212b",
            # Metadata is the client's own data: kept as sent (not normalised), tuples as lists.
            metadata={"note": "e\u0301\u200b", "lines": (1, [2.5, None, True])},
        ),
    )
    stored = load(store, tenant, created.id)
    assert stored == created
    assert stored is not None
    draft = stored.draft
    assert draft.invoice_number == "INV-\u00e9"
    assert draft.buyer_name == "Caf\u00e9 Ltd"
    assert draft.buyer_tax_id == "\u00c5-42"
    assert draft.buyer_email == "jos\u00e9@acme.example"
    assert draft.description == "Line 1\r\n\tLine 2 \u00c5"
    assert draft.metadata == {"note": "e\u0301\u200b", "lines": [1, [2.5, None, True]]}


# ---- edit, reasons, escrow link ------------------------------------------------------------


BAD_EDIT_TEXT = {"surrogate": "\ud800", "nul": "x\x00y", "bom": "\ufeffx"}
BAD_EDITS = [
    pytest.param(field, wrap.format(raw), id=f"{field}-{label}")
    for field, wrap in [
        *((name, "{}") for name in (*ONE_LINE_FIELDS, "description")),
        ("buyerEmail", "{}@acme.example"),
    ]
    for label, raw in BAD_EDIT_TEXT.items()
] + [
    # Metadata is opaque client data: only text no store can keep is refused there.
    pytest.param("metadata", {"k": ["\ud800"]}, id="metadata-surrogate"),
    pytest.param("metadata", {"k": {"x\x00y": 1}}, id="metadata-nul"),
]


@pytest.mark.parametrize(("field", "value"), BAD_EDITS)
def test_an_edit_with_bad_text_is_refused_and_changes_nothing(
    services: Services, store: Store, tenant: str, field: str, value: Any
) -> None:
    before = submit(services, tenant, invoice_payload())
    found = field_errors(
        lambda: services.invoices.update(tenant, SME, before.id, patch_of({field: value}))
    )
    assert found == {(field, INVALID_TEXT)}
    assert_unchanged(store, before)


TRANSITIONS_WITH_REASON = {
    "reject": (InvoiceStatus.PENDING, "reject"),
    "cancel": (InvoiceStatus.APPROVED, "cancel"),
    "default": (InvoiceStatus.DISBURSED, "mark_defaulted"),
}


def _invoice_in(services: Services, tenant: str, status: InvoiceStatus) -> Invoice:
    invoice = submit(services, tenant, invoice_payload())
    if status is InvoiceStatus.PENDING:
        return invoice
    invoice = services.invoices.approve(tenant, ADMIN, invoice.id)
    if status is InvoiceStatus.APPROVED:
        return invoice
    invoice = services.invoices.link_escrow(
        tenant, ADMIN, invoice.id, link_of(contract_address(), "100")
    )
    chain = Actor("indexer", Role.CHAIN)
    services.invoices.record_chain_funding(tenant, chain, invoice.id, 100)
    return services.invoices.transition(tenant, chain, invoice.id, InvoiceStatus.DISBURSED)


@pytest.mark.parametrize("action", TRANSITIONS_WITH_REASON)
@pytest.mark.parametrize(
    "raw",
    ["Paid\ud800", "\udfff", "Paid \u200b twice", "\ufeffDuplicate", "Dup\u202elicate", "\u2060"],
)
def test_a_reason_with_surrogates_or_format_characters_is_refused(
    services: Services, store: Store, tenant: str, action: str, raw: str
) -> None:
    status, use_case = TRANSITIONS_WITH_REASON[action]
    before = _invoice_in(services, tenant, status)
    call = getattr(services.invoices, use_case)
    found = field_errors(lambda: call(tenant, ADMIN, before.id, TransitionReason(raw)))
    assert found == {("reason", INVALID_TEXT)}
    assert_unchanged(store, before)


@pytest.mark.parametrize("action", TRANSITIONS_WITH_REASON)
def test_a_reason_loses_its_controls_and_is_stored_in_nfc(
    services: Services, store: Store, tenant: str, action: str
) -> None:
    # DESIGN.md: control characters (NUL included) are stripped from reasons.
    status, use_case = TRANSITIONS_WITH_REASON[action]
    invoice = _invoice_in(services, tenant, status)
    moved = getattr(services.invoices, use_case)(
        tenant, ADMIN, invoice.id, TransitionReason("\x00 Buyer\x07 paid cafe\u0301 \n")
    )
    assert moved.status_reason == "Buyer paid caf\u00e9"
    assert load(store, tenant, invoice.id) == moved
    with store.unit_of_work(tenant) as uow:
        assert uow.invoices.history(tenant, invoice.id)[-1].reason == "Buyer paid caf\u00e9"


@pytest.mark.parametrize(
    ("address", "target", "expected"),
    [
        ("C\ud800", "100", {("escrowAddress", "INVALID_CONTRACT_ADDRESS")}),
        ("C\x00", "100", {("escrowAddress", "INVALID_CONTRACT_ADDRESS")}),
        (None, "1\udfff", {("fundingTargetStroops", "INVALID_AMOUNT_FORMAT")}),
        (None, "10\x00", {("fundingTargetStroops", "INVALID_AMOUNT_FORMAT")}),
    ],
)
def test_an_escrow_link_with_bad_text_is_refused(
    services: Services,
    store: Store,
    tenant: str,
    address: str | None,
    target: str,
    expected: set[tuple[str, str]],
) -> None:
    before = _invoice_in(services, tenant, InvoiceStatus.APPROVED)
    escrow = address if address is not None else contract_address()
    call = services.invoices.link_escrow
    found = field_errors(lambda: call(tenant, ADMIN, before.id, link_of(escrow, target)))
    assert found == expected
    assert_unchanged(store, before)


# ---- funding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"invoiceId": "inv_\ud800"}, ("invoiceId", "INVALID_ID")),
        ({"invoiceId": "inv_\x00"}, ("invoiceId", "INVALID_ID")),
        (
            {"investorAddress": WALLET[:-1] + "\udfff"},
            ("investorAddress", "INVALID_INVESTOR_ADDRESS"),
        ),
        ({"investorAddress": WALLET + "\x00"}, ("investorAddress", "INVALID_INVESTOR_ADDRESS")),
        ({"amountStroops": "1\ud800"}, ("amountStroops", "INVALID_AMOUNT_FORMAT")),
        ({"amountStroops": "10\x00"}, ("amountStroops", "INVALID_AMOUNT_FORMAT")),
        ({"amountStroops": "1\u200b0"}, ("amountStroops", "INVALID_AMOUNT_FORMAT")),
    ],
)
def test_a_funding_with_bad_text_is_refused_and_records_nothing(
    services: Services,
    store: Store,
    tenant: str,
    changes: dict[str, str],
    expected: tuple[str, str],
) -> None:
    invoice = _invoice_in(services, tenant, InvoiceStatus.APPROVED)
    listed = services.invoices.link_escrow(
        tenant, ADMIN, invoice.id, link_of(contract_address(), "1000")
    )
    payload = {"invoiceId": listed.id, "investorAddress": WALLET, "amountStroops": "10", **changes}
    with pytest.raises(ValidationError) as raised:
        services.funding.fund_invoice(tenant, INVESTOR, funding_of(payload), "key-text-0001")
    assert raised.value.field_errors == (
        FieldError(expected[0], raised.value.field_errors[0].message, expected[1]),
    )
    with store.unit_of_work(tenant) as uow:
        assert uow.commitments.locks(CommitmentQuery(tenant)).total == 0
        assert uow.idempotency.get(tenant, "key-text-0001") is None  # the key stays unclaimed
    assert_unchanged(store, listed)
