"""SME profiles: an SME reads and sets how it presents itself to investors.

Every change writes an audit event in the same unit of work, and after commit is published as
``ProfileChanged`` (cached marketplace pages of the tenant show the issuer, so they go stale).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from liquifact_core.audit import AuditEvent
from liquifact_core.changes import ProfileChanged
from liquifact_core.errors import Forbidden
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.ports import ChangeListener, Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from liquifact_core.profiles import ProfileUpdate, SmeProfile, profile_not_found

RESOURCE_TYPE = "sme_profile"


@attrs.frozen
class ProfileSaved:
    """A stored profile, and whether this write created it (else it replaced one)."""

    profile: SmeProfile
    created: bool


class ProfileService:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        changes: ChangeListener,
    ) -> None:
        self._uow = unit_of_work
        self._clock = clock
        self._ids = ids
        self._changes = changes

    def get(self, tenant_id: str, actor: Actor) -> SmeProfile:
        """The calling SME's own profile. Forbidden for other roles; NotFound
        (PROFILE_NOT_FOUND) while it has none."""
        _require_sme(actor)
        with self._uow(tenant_id) as uow:
            found = uow.profiles.get(tenant_id, actor.id)
        if found is None:
            raise profile_not_found()
        return found

    def put(self, tenant_id: str, actor: Actor, update: ProfileUpdate) -> ProfileSaved:
        """Create or replace the calling SME's profile (Forbidden for other roles), audited
        as ``sme_profile.created`` or ``sme_profile.updated``."""
        _require_sme(actor)
        with self._uow(tenant_id) as uow:
            saved = save_profile(uow, self._ids, actor, tenant_id, update, self._clock.now())
            uow.commit()
        # After commit: a reader must never re-cache a page from before this change.
        self._changes.changed(ProfileChanged(tenant_id, actor.id))
        return saved


def save_profile(
    uow: UnitOfWork,
    ids: IdGenerator,
    actor: Actor,
    tenant_id: str,
    update: ProfileUpdate,
    at: datetime,
) -> ProfileSaved:
    """Write the profile of ``actor`` (an SME) inside ``uow``, with its audit event; the
    caller commits. Also used by self-registration, in the unit that binds the wallet."""
    previous = uow.profiles.get(tenant_id, actor.id)
    profile = SmeProfile(tenant_id, actor.id, update.display_name, update.country, at)
    uow.profiles.upsert(profile)
    action = "sme_profile.created" if previous is None else "sme_profile.updated"
    uow.audit.append(
        AuditEvent.by(
            actor,
            event_id=ids.new_id("aud_"),
            tenant_id=tenant_id,
            action=action,
            resource=(RESOURCE_TYPE, actor.id),
            at=at,
            metadata={"displayName": profile.display_name, "country": profile.country},
        )
    )
    return ProfileSaved(profile, previous is None)


def _require_sme(actor: Actor) -> None:
    if actor.role is not Role.SME:
        raise Forbidden("Only SMEs have a profile.")
