"""Every committed change drops the tenant's cached reads it made stale, through the one map
from change events to cache-key prefixes (``liquifact_adapters.cache.invalidation``)."""

from __future__ import annotations

import pytest

from liquifact_adapters.cache import CacheInvalidation
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.errors import InvalidTransition
from liquifact_core.invoices import Actor, TransitionReason
from liquifact_core.lifecycle import Role
from liquifact_core.services import NoCache, Services
from tests.factories import account_address, contract_address, funding_of, invoice_draft, link_of


class RecordingCache(NoCache):
    """A cache that holds nothing and records every prefix it is told to drop."""

    def __init__(self) -> None:
        self.invalidated: list[str] = []

    def invalidate_prefix(self, prefix: str) -> None:
        self.invalidated.append(prefix)


def _services(cache: RecordingCache) -> Services:
    """In-memory services whose committed changes drop prefixes from ``cache``."""
    return Services.from_ports(
        InMemoryStore(),
        FixedClock(),
        SequentialIdGenerator(),
        cache,
        changes=CacheInvalidation(cache),
    )


def test_transitions_and_funding_invalidate_the_tenants_marketplace_and_escrow_reads() -> None:
    cache = RecordingCache()
    services = _services(cache)
    admin, chain = Actor("a", Role.ADMIN), Actor("indexer", Role.CHAIN)
    invoice = services.invoices.submit("t1", Actor("s", Role.SME), invoice_draft())
    assert cache.invalidated == []  # a pending invoice is not on the marketplace
    services.invoices.approve("t1", admin, invoice.id)
    services.invoices.link_escrow("t1", admin, invoice.id, link_of(contract_address(), "1000"))
    services.invoices.record_chain_funding("t1", chain, invoice.id, 400)
    services.invoices.record_chain_funding("t1", chain, invoice.id, 400)  # re-applied: no change
    # Each change also drops the invoice's escrow view (its status and link are in it).
    assert cache.invalidated == ["marketplace:t1:", f"escrow:t1:{invoice.id}:"] * 3


def test_a_failed_transition_invalidates_nothing() -> None:
    cache = RecordingCache()
    services = _services(cache)
    invoice = services.invoices.submit("t1", Actor("s", Role.SME), invoice_draft())
    with pytest.raises(InvalidTransition):
        services.invoices.mark_defaulted(
            "t1", Actor("a", Role.ADMIN), invoice.id, TransitionReason("late")
        )
    assert cache.invalidated == []


def test_a_commitment_drops_the_tenants_investor_locks_once_and_a_replay_nothing() -> None:
    cache = RecordingCache()
    services = _services(cache)
    admin = Actor("a", Role.ADMIN)
    invoice = services.invoices.submit("t1", Actor("s", Role.SME), invoice_draft())
    services.invoices.approve("t1", admin, invoice.id)
    services.invoices.link_escrow("t1", admin, invoice.id, link_of(contract_address(), "1000"))
    cache.invalidated.clear()
    wallet = account_address()
    investor = Actor("i", Role.INVESTOR, wallet)
    body = {"invoiceId": invoice.id, "investorAddress": wallet, "amountStroops": "10"}
    for _ in range(2):  # the second is a replay
        services.funding.fund_invoice("t1", investor, funding_of(body), "key-00000001")
    assert cache.invalidated == ["investor:locks:t1:", "investor:lock:t1:"]
