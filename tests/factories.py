"""Test data builders shared by every suite."""

from __future__ import annotations

import os
import uuid
from typing import Any

from stellar_sdk.keypair import Keypair
from stellar_sdk.strkey import StrKey


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
