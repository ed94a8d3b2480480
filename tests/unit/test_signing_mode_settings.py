"""ESCROW_SIGNING_MODE and ESCROW_PLATFORM_SECRET at the settings gate: a non-stubbed mode
needs SOROBAN_RPC_URL, custodial needs seeds, and a malformed seed is refused without the
value ever being echoed (it is a signing key)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stellar_sdk import Keypair

from liquifact_core.commitments import SigningMode
from liquifact_http.settings import ConfigError, load_settings

RPC = {"STELLAR_NETWORK": "STANDALONE", "SOROBAN_RPC_URL": "http://127.0.0.1:8000"}
NO_ENV_FILE = Path("/nonexistent/.env")


def problems_of(environ: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_settings(environ, env_file=NO_ENV_FILE)
    return info.value.problems


def test_custodial_reads_comma_separated_seeds() -> None:
    seeds = [Keypair.random().secret for _ in range(2)]
    environ = {
        **RPC,
        "ESCROW_SIGNING_MODE": "Custodial",
        "ESCROW_PLATFORM_SECRET": f" {seeds[0]} ,{seeds[1]}",
    }
    settings = load_settings(environ, env_file=NO_ENV_FILE)
    assert settings.escrow_signing_mode is SigningMode.CUSTODIAL
    assert settings.escrow_platform_secret == tuple(seeds)
    assert seeds[0] not in repr(settings)


def test_a_malformed_seed_is_refused_without_echoing_it() -> None:
    bad = Keypair.random().secret[:-1] + "A"
    problems = problems_of({**RPC, "ESCROW_PLATFORM_SECRET": f"{Keypair.random().secret},{bad}"})
    assert problems == [
        ("ESCROW_PLATFORM_SECRET", "must be Stellar secret seeds (S...), comma-separated")
    ]


def test_a_signing_mode_needs_its_rpc_and_custodial_its_seeds() -> None:
    assert ("ESCROW_SIGNING_MODE", "delegated sends transactions: set SOROBAN_RPC_URL") in (
        problems_of({"ESCROW_SIGNING_MODE": "delegated"})
    )
    assert ("ESCROW_PLATFORM_SECRET", "is required when ESCROW_SIGNING_MODE=custodial") in (
        problems_of({**RPC, "ESCROW_SIGNING_MODE": "custodial"})
    )
    assert problems_of({"ESCROW_SIGNING_MODE": "multisig"})[0][0] == "ESCROW_SIGNING_MODE"
