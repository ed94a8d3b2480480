"""Wallet sign-in and the wallet directory: who a proven wallet is, and who binds wallets.

The shell proves that a caller controls a wallet (SEP-10, ``liquifact_http.sep10``); these use
cases say which principal that wallet is, record that a challenge was used, let an unknown
wallet register itself in the self-service tenant, and let admins bind, list and unbind the
wallets of their tenant. Every change writes an audit event in the same unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from liquifact_core.audit import AuditEvent
from liquifact_core.changes import IgnoreChanges, ProfileChanged
from liquifact_core.errors import Forbidden, Unauthenticated, ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.ports import ChangeListener, Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from liquifact_core.profiles import ProfileUpdate
from liquifact_core.services.profiles import save_profile
from liquifact_core.wallets import (
    BindWallet,
    SelfServiceRole,
    WalletBinding,
    WalletPage,
    WalletsQuery,
    wallet_not_found,
)

# Each redemption first drops this many expired challenge records at most, so the table stays
# as small as the challenges still within their time bounds, without a separate job.
PURGE_BATCH = 100
# How long a redeemed challenge is remembered after its own expiry. A challenge still verifies
# at its max_time, and verification runs before the redemption (a separate step, slower under
# load); a record purged at max_time let a replay sent just before expiry delete it and redeem
# again (found by an outside attack). Kept this much longer, no replay can outlive its record.
LEDGER_GRACE = timedelta(hours=1)
RESOURCE_TYPE = "wallet"


def challenge_used() -> Unauthenticated:
    """A challenge presented a second time (SEP-10 challenges are single-use)."""
    return Unauthenticated(
        "The challenge is not valid; request a new one.", code="INVALID_CHALLENGE"
    )


class WalletService:
    """Use cases of the wallet directory over a store's units of work and store-wide lookups.

    ``lookup`` is ``Store.wallet_binding``; ``redeem`` and ``purge`` are the store's challenge
    ledger (``Store.redeem_challenge``, ``Store.purge_expired_challenges``).
    """

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        lookup: Callable[[str], WalletBinding | None],
        redeem: Callable[[str, datetime], bool],
        purge: Callable[[datetime, int], int],
        clock: Clock,
        ids: IdGenerator,
        changes: ChangeListener | None = None,
    ) -> None:
        """``changes`` hears the profile a self-registering SME stores (``ProfileChanged``)."""
        self._uow = unit_of_work
        self._lookup = lookup
        self._redeem = redeem
        self._purge = purge
        self._clock = clock
        self._ids = ids
        self._changes = changes if changes is not None else IgnoreChanges()

    # ---- sign-in ---------------------------------------------------------------------------
    def principal_of(self, address: str) -> WalletBinding | None:
        """The principal a proven wallet signs in as, in whichever tenant binds it; None for
        an unknown wallet."""
        return self._lookup(address)

    def redeem_challenge(self, digest: str, expires_at: datetime) -> None:
        """Use the challenge ``digest`` (hex transaction hash) once; a second use raises
        Unauthenticated (INVALID_CHALLENGE). ``expires_at`` is the challenge's max_time; the
        record is kept ``LEDGER_GRACE`` beyond it, and older records are purged on the way."""
        self._purge(self._clock.now(), PURGE_BATCH)
        if not self._redeem(digest, expires_at + LEDGER_GRACE):
            raise challenge_used()

    def register_self(
        self,
        tenant_id: str,
        address: str,
        role: SelfServiceRole,
        profile: ProfileUpdate | None = None,
    ) -> WalletBinding:
        """Bind an unknown wallet to itself (subject = its address) as ``role`` in the
        self-service ``tenant_id``, unverified; an SME's ``profile``, if given, is stored in
        the same unit of work (both or nothing). Conflict (WALLET_ALREADY_BOUND) if the address
        is bound anywhere; ValidationError if a profile comes with a role other than SME."""
        if profile is not None and role is not SelfServiceRole.SME:
            raise ValidationError.for_field(
                "displayName", "is only for role sme", "NOT_ALLOWED_FOR_ROLE"
            )
        binding = WalletBinding(
            address=address,
            tenant_id=tenant_id,
            role=Role(role.value),
            subject=address,
            verified=False,
            created_at=self._clock.now(),
            created_by=address,
        )
        actor = binding.actor()
        with self._uow(tenant_id) as uow:
            uow.wallets.add(binding)
            self._audit(uow, binding, actor, "wallet.self_registered", {"role": role.value})
            if profile is not None:
                save_profile(uow, self._ids, actor, tenant_id, profile, binding.created_at)
            uow.commit()
        if profile is not None:
            self._changes.changed(ProfileChanged(tenant_id, actor.id))
        return binding

    # ---- administration --------------------------------------------------------------------
    def bind(self, tenant_id: str, actor: Actor, command: BindWallet) -> WalletBinding:
        """An admin binds a wallet to a principal of its tenant. Forbidden for other roles;
        Conflict (WALLET_ALREADY_BOUND) if the address is bound anywhere."""
        _require_admin(actor)
        binding = WalletBinding(
            address=command.address.value,
            tenant_id=tenant_id,
            role=Role(command.role.value),
            subject=command.subject,
            verified=command.verified,
            created_at=self._clock.now(),
            created_by=actor.id,
        )
        metadata = {
            "role": binding.role.value,
            "subject": binding.subject,
            "verified": binding.verified,
        }
        with self._uow(tenant_id) as uow:
            uow.wallets.add(binding)
            self._audit(uow, binding, actor, "wallet.bound", metadata)
            uow.commit()
        return binding

    def list(self, tenant_id: str, actor: Actor, query: WalletsQuery) -> WalletPage:
        """A page of the tenant's bindings by address (admins only)."""
        _require_admin(actor)
        with self._uow(tenant_id) as uow:
            return uow.wallets.list(tenant_id, query.limit, query.offset)

    def unbind(self, tenant_id: str, actor: Actor, address: str) -> WalletBinding:
        """An admin unbinds a wallet of its tenant; NotFound (WALLET_NOT_FOUND) if it is not
        bound there. Returns the binding removed. Tokens already issued stay valid until they
        expire (they are short-lived)."""
        _require_admin(actor)
        with self._uow(tenant_id) as uow:
            binding = uow.wallets.get(tenant_id, address)
            if binding is None or not uow.wallets.remove(tenant_id, address):
                raise wallet_not_found(address)
            metadata = {"role": binding.role.value, "subject": binding.subject}
            self._audit(uow, binding, actor, "wallet.unbound", metadata, at=self._clock.now())
            uow.commit()
        return binding

    def _audit(
        self,
        uow: UnitOfWork,
        binding: WalletBinding,
        actor: Actor,
        action: str,
        metadata: Mapping[str, Any],
        *,
        at: datetime | None = None,
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=binding.tenant_id,
                action=action,
                resource=(RESOURCE_TYPE, binding.address),
                at=at or binding.created_at,
                metadata=metadata,
            )
        )


def _require_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only admins may manage the wallet directory.")
