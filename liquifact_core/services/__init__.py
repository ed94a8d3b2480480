"""Use cases (application services). Each runs inside one unit of work."""

from __future__ import annotations

import secrets
from datetime import timedelta

import attrs

from liquifact_core.changes import IgnoreChanges
from liquifact_core.ports import Cache, ChangeListener, Clock, EscrowChain, IdGenerator, Store
from liquifact_core.services.funding import FundingService
from liquifact_core.services.idempotency import DEFAULT_TTL, IdempotencyService
from liquifact_core.services.invoices import InvoiceService
from liquifact_core.services.marketplace import MarketplaceService
from liquifact_core.services.metrics import MetricsService
from liquifact_core.services.profiles import ProfileService
from liquifact_core.services.wallets import WalletService


@attrs.frozen
class Services:
    """Every use case of the domain, built from the ports the caller picks."""

    store: Store
    clock: Clock
    ids: IdGenerator
    cache: Cache
    changes: ChangeListener
    invoices: InvoiceService
    marketplace: MarketplaceService
    funding: FundingService
    idempotency: IdempotencyService
    metrics: MetricsService
    wallets: WalletService
    profiles: ProfileService

    @classmethod
    def from_ports(
        cls,
        store: Store,
        clock: Clock,
        ids: IdGenerator,
        cache: Cache | None = None,
        *,
        changes: ChangeListener | None = None,
        chain: EscrowChain | None = None,
        cursor_secret: str | None = None,
        idempotency_ttl: timedelta = DEFAULT_TTL,
    ) -> Services:
        """``cache`` is the response cache the HTTP shell serves reads from (the core never
        touches it); ``changes`` hears every committed change (``liquifact_core.changes``):
        the composition root passes one that drops the affected ``cache`` entries
        (``liquifact_adapters.cache.CacheInvalidation``); none: changes are ignored.
        ``chain`` is the escrow chain funding goes to (none: funding answers 503);
        ``cursor_secret`` is the HMAC key of marketplace cursors (at least 32 characters;
        ``liquifact_adapters.composition`` reads ``CURSOR_SECRET``); none: a random key of
        this ``Services``, so its cursors are refused by any other process or instance (give
        every process of a deployment the same key). There is no published default key."""
        cache = cache if cache is not None else NoCache()
        changes = changes if changes is not None else IgnoreChanges()
        idempotency = IdempotencyService(
            store.unit_of_work, store.purge_expired_idempotency, clock, ids, idempotency_ttl
        )
        return cls(
            store=store,
            clock=clock,
            ids=ids,
            cache=cache,
            changes=changes,
            invoices=InvoiceService(store.unit_of_work, clock, ids, changes),
            marketplace=MarketplaceService(
                store.read_unit, cursor_secret or secrets.token_urlsafe(32)
            ),
            funding=FundingService(
                store.unit_of_work, clock, ids, chain, idempotency, changes, store.read_unit
            ),
            idempotency=idempotency,
            metrics=MetricsService(store.read_unit),
            wallets=WalletService(
                store.unit_of_work,
                store.wallet_binding,
                store.redeem_challenge,
                store.purge_expired_challenges,
                clock,
                ids,
                changes,
            ),
            profiles=ProfileService(store.unit_of_work, clock, ids, changes),
        )

    def close(self) -> None:
        """Close the store and the cache (their pools and connections)."""
        try:
            self.store.close()
        finally:
            self.cache.close()


class NoCache:
    """The cache of a deployment that caches nothing: every read misses."""

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    def invalidate_prefix(self, prefix: str) -> None:
        return None

    def close(self) -> None:
        return None


__all__ = [
    "FundingService",
    "IdempotencyService",
    "InvoiceService",
    "MarketplaceService",
    "MetricsService",
    "NoCache",
    "ProfileService",
    "Services",
    "WalletService",
]
