"""What a committed change means for cached reads: the one map from core change events to the
cache-key prefixes to drop, used by the HTTP server and by library use alike.

Cached reads are keyed by family then tenant (the spec's key formats):

* ``marketplace:<tenantId>:<originalUrl>``: marketplace and opportunity pages;
* ``investor:locks:<tenantId>:...`` and ``investor:lock:<tenantId>:...``: investor locks;
* ``escrow:<tenantId>:<invoiceId>:...``: an invoice's escrow view (``GET /v1/escrow/{id}``,
  when REDIS_ESCROW_CACHE_ENABLED), one entry per caller under the invoice's prefix.

``liquifact_http.caching`` builds its keys from the family names below, so a key format and
its invalidation cannot drift apart. A write made through library use drops the same entries
as a write through the API, in the shared (Redis) cache too, when the composition root wires
``CacheInvalidation`` over that cache.
"""

from __future__ import annotations

from liquifact_core.changes import (
    Change,
    CommitmentChanged,
    EscrowProjected,
    InvoiceChanged,
    ProfileChanged,
)
from liquifact_core.ports import Cache

MARKETPLACE = "marketplace"
INVESTOR_LOCKS = "investor:locks"
INVESTOR_LOCK = "investor:lock"
ESCROW = "escrow"


def tenant_prefix(family: str, tenant_id: str) -> str:
    """``<family>:<tenantId>:``: the start of every key of that family and tenant."""
    return f"{family}:{tenant_id}:"


def escrow_prefix(tenant_id: str, invoice_id: str) -> str:
    """``escrow:<tenantId>:<invoiceId>:``: the start of every cached escrow view of the invoice
    (invoice ids are ``[A-Za-z0-9_]``, so the prefix of one never starts another's)."""
    return f"{tenant_prefix(ESCROW, tenant_id)}{invoice_id}:"


def stale_prefixes(change: Change) -> tuple[str, ...]:
    """The key prefixes whose cached reads ``change`` may have made stale.

    A lifecycle or funding change of an invoice changes the tenant's marketplace pages (what
    is listed, and its funded amounts) and the invoice's escrow view (its status, who may see
    it, and its link: a link, or any other change of the escrow address, goes through a
    lifecycle transition); so does an SME profile change the marketplace pages (the issuer
    shown on its invoices, and what a ``q`` search finds); a commitment changes the tenant's
    investor locks; a new projection of an invoice's escrow changes its escrow view.
    """
    if isinstance(change, InvoiceChanged):
        return (
            tenant_prefix(MARKETPLACE, change.tenant_id),
            escrow_prefix(change.tenant_id, change.invoice_id),
        )
    if isinstance(change, ProfileChanged):
        return (tenant_prefix(MARKETPLACE, change.tenant_id),)
    if isinstance(change, EscrowProjected):
        return (escrow_prefix(change.tenant_id, change.invoice_id),)
    assert isinstance(change, CommitmentChanged)
    return (
        tenant_prefix(INVESTOR_LOCKS, change.tenant_id),
        tenant_prefix(INVESTOR_LOCK, change.tenant_id),
    )


class CacheInvalidation:
    """A ``ChangeListener`` that drops the cached reads each change made stale from ``cache``
    (cache adapters swallow their own errors, so this never fails the caller)."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    def changed(self, change: Change) -> None:
        for prefix in stale_prefixes(change):
            self._cache.invalidate_prefix(prefix)
