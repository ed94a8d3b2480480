"""Test data builders shared by every suite."""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from stellar_sdk.keypair import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_core.amounts import Money
from liquifact_core.commitments import FundingRequest
from liquifact_core.invoices import EscrowLink, InvoiceDraft, InvoicePatch


def new_tenant() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def contract_address() -> str:
    return StrKey.encode_contract(os.urandom(32))


def account_address() -> str:
    return Keypair.random().public_key


def invoice_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "invoiceNumber": "INV-" + uuid.uuid4().hex[:10],
        "buyerName": "Acme Buyer Ltd",
        "buyerEmail": "ap@acme.example",
        "amount": "1250.00",
        "currency": "USD",
        "issueDate": "2026-01-10",
        "dueDate": "2026-03-10",
        "yieldBps": 650,
        "description": "Net 60 goods invoice",
        "metadata": {"po": "PO-77"},
    }
    payload.update(overrides)
    return payload


def _structure(payload: dict[str, Any], cls: type[Any]) -> Any:
    # Imported here: library tests use these factories in interpreters that must not load the
    # HTTP shell.
    from liquifact_http.wire import structure

    return structure(payload, cls)


def draft_of(payload: dict[str, Any]) -> InvoiceDraft:
    """The typed draft a client's camelCase payload becomes (through the API's converter)."""
    draft: InvoiceDraft = _structure(payload, InvoiceDraft)
    return draft


def invoice_draft(**overrides: Any) -> InvoiceDraft:
    """A valid draft built the way library callers build one; ``overrides`` are camelCase."""
    payload = invoice_payload(**overrides)
    return InvoiceDraft(
        invoice_number=payload["invoiceNumber"],
        buyer_name=payload["buyerName"],
        amount=Money(Decimal(payload["amount"]), payload["currency"]),
        issue_date=date.fromisoformat(payload["issueDate"]),
        due_date=date.fromisoformat(payload["dueDate"]),
        yield_bps=payload["yieldBps"],
        buyer_email=payload.get("buyerEmail"),
        buyer_tax_id=payload.get("buyerTaxId"),
        description=payload.get("description"),
        metadata=payload.get("metadata") or {},
    )


def patch_of(payload: dict[str, Any]) -> InvoicePatch:
    patch: InvoicePatch = _structure(payload, InvoicePatch)
    return patch


def link_of(escrow_address: Any, funding_target_stroops: Any) -> EscrowLink:
    """An escrow link from its two wire values (``C...`` text, digit string)."""
    link: EscrowLink = _structure(
        {"escrowAddress": escrow_address, "fundingTargetStroops": funding_target_stroops},
        EscrowLink,
    )
    return link


def funding_of(payload: dict[str, Any]) -> FundingRequest:
    request: FundingRequest = _structure(payload, FundingRequest)
    return request
