"""The redeemed-challenge ledger outlives every challenge it records (found by an outside
attack: a replay verified just before max_time purged the record, then redeemed again)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_core.errors import Unauthenticated
from liquifact_core.services import Services
from liquifact_core.services.wallets import LEDGER_GRACE


def test_a_challenge_redeemed_at_its_expiry_cannot_be_redeemed_again() -> None:
    clock = FixedClock()
    services = Services.from_ports(InMemoryStore(), clock, SequentialIdGenerator())
    max_time = clock.now() + timedelta(minutes=5)
    services.wallets.redeem_challenge("ab" * 32, max_time)
    clock.advance(timedelta(minutes=5))  # at max_time the challenge still verifies
    with pytest.raises(Unauthenticated) as replayed:
        services.wallets.redeem_challenge("ab" * 32, max_time)
    assert replayed.value.code == "INVALID_CHALLENGE"
    clock.advance(LEDGER_GRACE)  # long after any verification could pass: purged
    services.wallets.redeem_challenge("cd" * 32, clock.now())
    services.wallets.redeem_challenge("ab" * 32, max_time)  # the record is gone; harmless
