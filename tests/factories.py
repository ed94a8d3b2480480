"""Test data builders shared by every suite."""

from __future__ import annotations

import os
import uuid
from typing import Any

from stellar_sdk.keypair import Keypair
from stellar_sdk.strkey import StrKey

from liquifact_core.commitments import FundingRequest
from liquifact_core.invoices import EscrowLink, InvoiceDraft, InvoicePatch
from liquifact_http.wire import structure


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


def draft_of(payload: dict[str, Any]) -> InvoiceDraft:
    """The typed draft a client's camelCase payload becomes (through the API's converter)."""
    return structure(payload, InvoiceDraft)


def invoice_draft(**overrides: Any) -> InvoiceDraft:
    """A valid draft built the way library callers build one; ``overrides`` are camelCase."""
    return draft_of(invoice_payload(**overrides))


def patch_of(payload: dict[str, Any]) -> InvoicePatch:
    return structure(payload, InvoicePatch)


def link_of(escrow_address: Any, funding_target_stroops: Any) -> EscrowLink:
    """An escrow link from its two wire values (``C...`` text, digit string)."""
    return structure(
        {"escrowAddress": escrow_address, "fundingTargetStroops": funding_target_stroops},
        EscrowLink,
    )


def funding_of(payload: dict[str, Any]) -> FundingRequest:
    return structure(payload, FundingRequest)
