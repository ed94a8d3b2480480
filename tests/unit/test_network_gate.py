"""The boot gate on STELLAR_NETWORK and SOROBAN_RPC_URL (spec; issue 12, item 1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Network

from liquifact_core.network import (
    DEFAULT_NETWORK,
    EXPECTED_RPC_URLS,
    NetworkConfigError,
    NetworkName,
    is_loopback_url,
    parse_network_name,
    redact_url,
    resolve_network,
)

PUBLIC = [NetworkName.TESTNET, NetworkName.MAINNET, NetworkName.FUTURENET]


def test_the_spec_example_is_refused_with_the_specs_message() -> None:
    with pytest.raises(NetworkConfigError) as raised:
        resolve_network(NetworkName.TESTNET, "https://custom-rpc.example.com")
    assert raised.value.setting == "SOROBAN_RPC_URL"
    assert raised.value.code == "SOROBAN_RPC_URL_MISMATCH"
    assert raised.value.message == (
        'Mismatch: STELLAR_NETWORK=TESTNET requires SOROBAN_RPC_URL="https://soroban-testnet'
        '.stellar.org", but got "https://custom-rpc.example.com". This combination would cause '
        "on-chain validation failures."
    )


@pytest.mark.parametrize(
    ("name", "url", "passphrase"),
    [
        (NetworkName.TESTNET, "https://soroban-testnet.stellar.org", Network.TESTNET_NETWORK_PASSPHRASE),  # noqa: E501
        (NetworkName.MAINNET, "https://soroban.stellar.org", Network.PUBLIC_NETWORK_PASSPHRASE),
        (NetworkName.FUTURENET, "https://rpc-futurenet.stellar.org", Network.FUTURENET_NETWORK_PASSPHRASE),  # noqa: E501
    ],
)  # fmt: skip
def test_each_public_network_takes_the_specs_url_and_derives_its_passphrase(
    name: NetworkName, url: str, passphrase: str
) -> None:
    assert resolve_network(name, url).passphrase == passphrase
    assert resolve_network(name, None).rpc_url == url  # unset: the spec's URL


def test_the_passphrases_are_the_real_networks() -> None:
    # The spec's table prints MAINNET's year as 2014; the network's passphrase says 2015.
    assert resolve_network(NetworkName.MAINNET, None).passphrase == (
        "Public Global Stellar Network ; September 2015"
    )
    assert resolve_network(NetworkName.TESTNET, None).passphrase == (
        "Test SDF Network ; September 2015"
    )
    standalone = resolve_network(NetworkName.STANDALONE, "http://127.0.0.1:8000/soroban/rpc")
    assert standalone.passphrase == "Standalone Network ; February 2017"
    assert DEFAULT_NETWORK is NetworkName.TESTNET


@pytest.mark.parametrize("name", PUBLIC)
@pytest.mark.parametrize(
    "url",
    [
        "https://soroban-testnet.stellar.org/",  # any deviation, even a slash
        "http://soroban.stellar.org",
        "https://rpc-futurenet.stellar.org:443",
        "http://127.0.0.1:8000",
        "",
    ],
)
def test_a_public_network_refuses_any_other_url(name: NetworkName, url: str) -> None:
    with pytest.raises(NetworkConfigError, match=f"^Mismatch: STELLAR_NETWORK={name.value} "):
        resolve_network(name, url)


@given(st.sampled_from(PUBLIC), st.text(max_size=80))
def test_a_public_network_accepts_exactly_one_url(name: NetworkName, url: str) -> None:
    try:
        network = resolve_network(name, url)
    except NetworkConfigError:
        assert url != EXPECTED_RPC_URLS[name]
    else:
        assert url == EXPECTED_RPC_URLS[name] == network.rpc_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/soroban/rpc",
        "http://127.8.9.10:1234",
        "https://localhost/rpc",
        "http://LOCALHOST:80",
        "http://[::1]:8000/",
    ],
)
def test_standalone_accepts_loopback_urls(url: str) -> None:
    network = resolve_network(NetworkName.STANDALONE, url)
    assert network.rpc_url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://soroban-testnet.stellar.org",
        "http://10.0.0.5:8000",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "http://127.0.0.1@evil.example",  # user-info: the host is evil.example
        "ftp://127.0.0.1",
        "127.0.0.1:8000",  # no scheme
        "http://127.0.0.1:99999",
        "http://[::2]",
        "http://0.0.0.0:8000",
    ],
)
def test_standalone_refuses_anything_not_loopback(url: str) -> None:
    with pytest.raises(NetworkConfigError) as raised:
        resolve_network(NetworkName.STANDALONE, url)
    assert raised.value.code == "SOROBAN_RPC_URL_NOT_LOOPBACK"


def test_standalone_needs_an_rpc_url() -> None:
    with pytest.raises(NetworkConfigError) as raised:
        resolve_network(NetworkName.STANDALONE, None)
    assert raised.value.code == "SOROBAN_RPC_URL_REQUIRED"


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_an_ipv4_url_is_loopback_exactly_in_127_slash_8(address: object, port: int) -> None:
    assert is_loopback_url(f"http://{address}:{port}/rpc") == str(address).startswith("127.")


@pytest.mark.parametrize(
    ("raw", "name"),
    [("TESTNET", "TESTNET"), ("testnet", "TESTNET"), (" Mainnet ", "MAINNET"),
     ("futurenet", "FUTURENET"), ("STANDALONE", "STANDALONE")],
)  # fmt: skip
def test_network_names_are_read_case_insensitively(raw: str, name: str) -> None:
    assert parse_network_name(raw).value == name


@pytest.mark.parametrize("raw", ["pubnet", "PUBLIC", "", "test net", None])
def test_unknown_network_names_are_refused(raw: object) -> None:
    with pytest.raises(NetworkConfigError, match="must be one of: TESTNET, MAINNET") as raised:
        parse_network_name(raw)
    assert raised.value.setting == "STELLAR_NETWORK"


def test_a_url_shown_in_an_error_loses_its_credentials_and_query() -> None:
    url = "https://user:s3cret@rpc.example.com/v1/abc?apikey=s3cret#x"
    assert redact_url(url) == "https://rpc.example.com/v1/abc"
    with pytest.raises(NetworkConfigError) as raised:
        resolve_network(NetworkName.MAINNET, url)
    assert "s3cret" not in raised.value.message
    assert redact_url("not a url") == "<not a URL>"
