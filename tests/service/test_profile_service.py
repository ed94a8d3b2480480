"""SME profiles through the use cases: who may read and set them, their audit events, the
change that drops cached marketplace pages, and self-registration storing a profile in the
unit that binds the wallet (both or nothing)."""

from __future__ import annotations

import pytest

from liquifact_adapters.cache import CacheInvalidation
from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.errors import Conflict, Forbidden, NotFound, ValidationError
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.profiles import ProfileUpdate
from liquifact_core.services import Services
from liquifact_core.wallets import SelfServiceRole
from tests.factories import account_address
from tests.service.test_read_invalidation import RecordingCache

SME = Actor("sme-1", Role.SME)


def _services(cache: RecordingCache | None = None) -> Services:
    cache = cache or RecordingCache()
    return Services.from_ports(
        InMemoryStore(),
        FixedClock(),
        SequentialIdGenerator(),
        cache,
        changes=CacheInvalidation(cache),
    )


def _audit(services: Services, tenant: str, subject: str) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    with services.store.unit_of_work(tenant) as uow:
        events = uow.audit.for_resource(tenant, "sme_profile", subject)
    return [(event.action, event.actor_id, dict(event.metadata)) for event in events]


def test_an_sme_creates_reads_and_replaces_its_profile_with_audit() -> None:
    cache = RecordingCache()
    services = _services(cache)
    with pytest.raises(NotFound) as missing:
        services.profiles.get("t1", SME)
    assert missing.value.code == "PROFILE_NOT_FOUND"

    created = services.profiles.put("t1", SME, ProfileUpdate("Société Lyonnaise", "FR"))
    replaced = services.profiles.put("t1", SME, ProfileUpdate("Lyonnaise SA", "BE"))

    assert (created.created, replaced.created) == (True, False)
    mine = services.profiles.get("t1", SME)
    assert (mine.display_name, mine.country, mine.subject) == ("Lyonnaise SA", "BE", "sme-1")
    assert _audit(services, "t1", "sme-1") == [
        ("sme_profile.created", "sme-1", {"displayName": "Société Lyonnaise", "country": "FR"}),
        ("sme_profile.updated", "sme-1", {"displayName": "Lyonnaise SA", "country": "BE"}),
    ]
    assert cache.invalidated == ["marketplace:t1:"] * 2  # the tenant's pages show issuers
    with pytest.raises(NotFound):
        services.profiles.get("t2", SME)  # another tenant's principal of the same name


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INVESTOR, Role.SERVICE])
def test_only_smes_have_a_profile(role: Role) -> None:
    services = _services()
    with pytest.raises(Forbidden):
        services.profiles.get("t1", Actor("x", role))
    with pytest.raises(Forbidden):
        services.profiles.put("t1", Actor("x", role), ProfileUpdate("Acme", "FR"))


def test_a_self_registered_sme_gets_its_profile_in_the_same_unit() -> None:
    cache = RecordingCache()
    services = _services(cache)
    address = account_address()

    binding = services.wallets.register_self(
        "self", address, SelfServiceRole.SME, ProfileUpdate("Crème SARL", "FR")
    )

    profile = services.profiles.get("self", binding.actor())
    assert (profile.display_name, profile.subject) == ("Crème SARL", address)
    assert [action for action, _, _ in _audit(services, "self", address)] == ["sme_profile.created"]
    assert cache.invalidated == ["marketplace:self:"]


def test_a_refused_registration_stores_no_profile() -> None:
    services = _services()
    address = account_address()
    services.wallets.register_self("other", address, SelfServiceRole.INVESTOR)
    with pytest.raises(Conflict):  # bound already (in another tenant): nothing is written
        services.wallets.register_self(
            "self", address, SelfServiceRole.SME, ProfileUpdate("Acme", "FR")
        )
    with pytest.raises(NotFound):
        services.profiles.get("self", Actor(address, Role.SME))
    fresh = account_address()
    with pytest.raises(ValidationError):  # a profile is for SMEs only
        services.wallets.register_self(
            "self", fresh, SelfServiceRole.INVESTOR, ProfileUpdate("Acme", "FR")
        )
    assert services.wallets.principal_of(fresh) is None
