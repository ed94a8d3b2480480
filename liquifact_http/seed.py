"""Demo data: a few tenants with invoices in various lifecycle states."""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

from stellar_sdk.strkey import StrKey

from liquifact_core.addresses import ContractAddress
from liquifact_core.amounts import Money, Stroops
from liquifact_core.errors import Conflict, NotFound
from liquifact_core.invoices import (
    Actor,
    InvoiceDraft,
    InvoiceListQuery,
    TransitionReason,
)
from liquifact_core.kyc import ExemptKyc
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.profiles import ProfileUpdate
from liquifact_core.services import Services

DEMO_TENANTS = ("demo-tenant", "acme-capital")
_SME = Actor("demo-sme", Role.SME)
_ADMIN = Actor("demo-admin", Role.ADMIN)
_CHAIN = Actor("demo-indexer", Role.CHAIN)
# (number suffix, amount, yield bps, days to maturity, what happens to it after submission)
_PLAN = (
    ("0001", "1250.00", 500, 30, "pending"),
    ("0002", "8400.50", 650, 45, "approved"),
    ("0003", "15000.00", 720, 60, "linked"),
    ("0004", "3200.00", 880, 90, "partially_funded"),
    ("0005", "990.99", 400, 20, "funded"),
    ("0006", "5100.00", 300, 15, "rejected"),
)


def store_is_empty(services: Services) -> bool:
    return all(
        services.invoices.list(tenant, _ADMIN, InvoiceListQuery(limit=1)).total == 0
        for tenant in DEMO_TENANTS
    )


def seed_demo(services: Services, today: date | None = None) -> int:
    """Create the demo invoices that do not exist yet; returns how many were created."""
    today = today or services.clock.now().date()
    created = 0
    for tenant in DEMO_TENANTS:
        _issuer_profile(services, tenant)
        _issuer_kyc(services, tenant)
        for suffix, amount, bps, days, fate in _PLAN:
            draft = InvoiceDraft(
                invoice_number=f"DEMO-{tenant[:4].upper()}-{suffix}",
                buyer_name=f"Buyer {suffix} Ltd",
                buyer_email=f"ap-{suffix}@buyer.example",
                amount=Money(Decimal(amount), "USD"),
                issue_date=today,
                due_date=today + timedelta(days=days),
                yield_bps=bps,
                description=f"Demo invoice {suffix}",
            )
            try:
                invoice = services.invoices.submit(tenant, _SME, draft)
            except Conflict:
                continue  # already seeded
            created += 1
            _advance(services, tenant, invoice.id, fate, amount)
    return created


def _issuer_profile(services: Services, tenant: str) -> None:
    """The demo SME's profile, so marketplace items show an issuer (kept if one exists)."""
    try:
        services.profiles.get(tenant, _SME)
    except NotFound:
        services.profiles.put(tenant, _SME, ProfileUpdate("Lumière Textiles SARL", "FR"))


def _issuer_kyc(services: Services, tenant: str) -> None:
    """Escrows are linked only for a verified or exempted SME. Without a KYC provider the
    mock's default policy already verifies the demo SME and nothing is written; otherwise
    (a provider, or KYC_MOCK_DEFAULT_STATUS=pending) the demo SME is exempted, audited."""
    if not services.kyc.view(tenant, _SME.id).passing:
        services.kyc.exempt(tenant, _ADMIN, _SME.id, ExemptKyc("Demo data (liquifact seed-demo)"))


def _advance(services: Services, tenant: str, invoice_id: str, fate: str, amount: str) -> None:
    invoices = services.invoices
    if fate == "pending":
        return
    if fate == "rejected":
        invoices.reject(tenant, _ADMIN, invoice_id, TransitionReason("Buyer could not be verified"))
        return
    invoices.approve(tenant, _ADMIN, invoice_id)
    if fate == "approved":
        return
    target = Stroops(int(amount.replace(".", "")) * 100_000)  # 7-decimal token units
    escrow = ContractAddress(StrKey.encode_contract(os.urandom(32)))
    # Demo escrows are made-up addresses that no chain holds: linked with the lifecycle step
    # itself, not link_escrow, which would ask the chain when SOROBAN_RPC_URL is set.
    invoices.transition(
        tenant,
        _ADMIN,
        invoice_id,
        InvoiceStatus.LINKED_ESCROW,
        escrow_address=escrow.value,
        funding_target=target,
    )
    if fate == "partially_funded":
        invoices.record_chain_funding(tenant, _CHAIN, invoice_id, target.value // 3)
    elif fate == "funded":
        invoices.record_chain_funding(tenant, _CHAIN, invoice_id, target.value)
