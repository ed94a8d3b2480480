"""The chain settings: SOROBAN_CB_* and SOROBAN_RPC_TIMEOUT_MS as the spec gives them,
ESCROW_ADDR_BY_INVOICE checked at boot, and no ledger unless SOROBAN_RPC_URL is set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from stellar_sdk.network import Network
from stellar_sdk.strkey import StrKey

from liquifact_adapters.composition import ServicesConfig, open_services
from liquifact_adapters.soroban import SorobanEscrowLedger
from liquifact_http.settings import ConfigError, load_settings, services_config

NO_DOTENV = Path("/nonexistent/.env")


def test_no_ledger_unless_the_rpc_url_is_set() -> None:
    settings = load_settings({"STELLAR_NETWORK": "TESTNET"}, env_file=NO_DOTENV)
    config = services_config(settings)

    assert config.soroban_rpc_url is None
    services = open_services(config, database_url="memory://")
    try:
        assert services.ledger is None
    finally:
        services.close()


def test_the_spec_breaker_settings_reach_the_ledger() -> None:
    settings = load_settings(
        {
            "STELLAR_NETWORK": "STANDALONE",
            "SOROBAN_RPC_URL": "http://127.0.0.1:9/rpc",
            "SOROBAN_CB_FAILURE_THRESHOLD": "7",
            "SOROBAN_CB_RECOVERY_TIMEOUT": "2500",
            "SOROBAN_RPC_TIMEOUT_MS": "750",
        },
        env_file=NO_DOTENV,
    )
    config = services_config(settings)

    assert config.soroban_rpc_url == "http://127.0.0.1:9/rpc"
    assert config.network_passphrase == Network.STANDALONE_NETWORK_PASSPHRASE
    assert (config.soroban_cb_failure_threshold, config.soroban_cb_recovery_timeout_ms) == (
        7,
        2500,
    )
    assert config.soroban_rpc_timeout_ms == 750
    services = open_services(config, database_url="memory://")  # contacts nothing
    try:
        assert isinstance(services.ledger, SorobanEscrowLedger)
        assert services.ledger.breaker_state == "CLOSED"
    finally:
        services.close()


def test_spec_defaults() -> None:
    settings = load_settings({}, env_file=NO_DOTENV)

    assert settings.soroban_cb_failure_threshold == 5
    assert settings.soroban_cb_recovery_timeout_ms == 10_000  # milliseconds, as the spec says
    assert settings.escrow_addr_by_invoice is None
    assert services_config(settings).escrow_addresses.configured is False


def test_bad_chain_settings_stop_the_process_without_echoing_values() -> None:
    bad_mapping = json.dumps(
        {"mappings": [{"invoiceId": "inv_1", "escrowAddress": "GSECRETLOOKINGVALUE"}]}
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "SOROBAN_CB_FAILURE_THRESHOLD": "0",
                "SOROBAN_CB_RECOVERY_TIMEOUT": "-1",
                "ESCROW_ADDR_BY_INVOICE": bad_mapping,
            },
            env_file=NO_DOTENV,
        )

    keys = [key for key, _ in caught.value.problems]
    assert keys == [
        "SOROBAN_CB_FAILURE_THRESHOLD",
        "SOROBAN_CB_RECOVERY_TIMEOUT",
        "ESCROW_ADDR_BY_INVOICE",
    ]
    assert "GSECRETLOOKINGVALUE" not in caught.value.report()


def test_the_mapping_resolves_for_node_env() -> None:
    address = StrKey.encode_contract(os.urandom(32))
    mapping = json.dumps(
        {"mappings": [{"invoiceId": "inv_1", "escrowAddress": address, "environment": "staging"}]}
    )
    staging = load_settings(
        {"ESCROW_ADDR_BY_INVOICE": mapping, "NODE_ENV": "staging"}, env_file=NO_DOTENV
    )
    development = load_settings({"ESCROW_ADDR_BY_INVOICE": mapping}, env_file=NO_DOTENV)

    assert services_config(staging).escrow_addresses.address_for("inv_1") == address
    assert services_config(development).escrow_addresses.address_for("inv_1") is None


def test_a_library_config_with_an_rpc_url_needs_the_passphrase() -> None:
    with pytest.raises(ValueError, match="network_passphrase is required"):
        ServicesConfig(soroban_rpc_url="http://127.0.0.1:9/rpc")


def test_demo_seeding_works_with_a_ledger_configured() -> None:
    """The demo's escrows are made-up addresses: seeding must not ask the chain about them."""
    from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
    from liquifact_adapters.memory.fakes import FakeEscrowLedger
    from liquifact_core.services import Services
    from liquifact_http.seed import seed_demo

    ledger = FakeEscrowLedger()  # holds no escrow: any chain check would refuse
    services = Services.from_ports(
        InMemoryStore(), FixedClock(), SequentialIdGenerator(), ledger=ledger
    )

    assert seed_demo(services) > 0
