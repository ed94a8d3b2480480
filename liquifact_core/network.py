"""The Stellar network gate: which network we talk to, and the one RPC endpoint it may use.

Spec (original README, "STELLAR_NETWORK and SOROBAN_RPC_URL"): the API enforces a strict match
between ``STELLAR_NETWORK`` and ``SOROBAN_RPC_URL`` at boot; the passphrase (the network's
identity, which every transaction signature commits to) is derived from the network, never
configured; a mismatch is a hard failure before the server starts, with the message
``Mismatch: STELLAR_NETWORK=TESTNET requires SOROBAN_RPC_URL="https://soroban-testnet.stellar.org",
but got "https://custom-rpc.example.com". This combination would cause on-chain validation
failures.`` Issue 12 item 1 adds ``STANDALONE`` for local and test use: any loopback RPC URL
(127.0.0.0/8, ::1, localhost), nothing else.

The passphrases come from ``stellar_sdk.network.Network`` (a pure constant holder, like
``StrKey``). The spec's table gives MAINNET's as "... ; September 2014": that is a typo in the
spec; the real public network's passphrase, and the SDK's, is "... ; September 2015".
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Any
from urllib.parse import SplitResult, urlsplit

import attrs
from stellar_sdk.network import Network

from liquifact_core.errors import LiquifactError


class NetworkName(enum.Enum):
    """The values ``STELLAR_NETWORK`` may take (matched case-insensitively)."""

    TESTNET = "TESTNET"
    MAINNET = "MAINNET"
    FUTURENET = "FUTURENET"
    STANDALONE = "STANDALONE"


DEFAULT_NETWORK = NetworkName.TESTNET  # the spec's .env example and the original's default

PASSPHRASES: dict[NetworkName, str] = {
    NetworkName.TESTNET: Network.TESTNET_NETWORK_PASSPHRASE,
    NetworkName.MAINNET: Network.PUBLIC_NETWORK_PASSPHRASE,
    NetworkName.FUTURENET: Network.FUTURENET_NETWORK_PASSPHRASE,
    NetworkName.STANDALONE: Network.STANDALONE_NETWORK_PASSPHRASE,
}

# The spec's table: the only RPC URL each public network accepts (compared exactly).
EXPECTED_RPC_URLS: dict[NetworkName, str] = {
    NetworkName.TESTNET: "https://soroban-testnet.stellar.org",
    NetworkName.MAINNET: "https://soroban.stellar.org",
    NetworkName.FUTURENET: "https://rpc-futurenet.stellar.org",
}


class NetworkConfigError(LiquifactError):
    """``STELLAR_NETWORK`` / ``SOROBAN_RPC_URL`` do not name a usable pair. ``setting`` is the
    environment variable to fix. Raised at boot only; it never reaches an API client."""

    code = "STELLAR_NETWORK_INVALID"

    def __init__(self, setting: str, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
        self.setting = setting


@attrs.frozen
class StellarNetwork:
    """A network we may talk to: its name, its passphrase (derived, never configured) and the
    Soroban RPC URL that passed the gate."""

    name: NetworkName
    passphrase: str
    rpc_url: str


def parse_network_name(raw: Any) -> NetworkName:
    """``STELLAR_NETWORK``'s value, case-insensitively (``testnet`` or ``TESTNET``).

    Raises NetworkConfigError (code ``UNKNOWN_STELLAR_NETWORK``) for anything else.
    """
    value = raw.strip().upper() if isinstance(raw, str) else None
    try:
        return NetworkName(value)
    except ValueError:
        names = ", ".join(name.value for name in NetworkName)
        raise NetworkConfigError(
            "STELLAR_NETWORK", f"must be one of: {names}", code="UNKNOWN_STELLAR_NETWORK"
        ) from None


def resolve_network(name: NetworkName, rpc_url: str | None) -> StellarNetwork:
    """The network ``name`` with the RPC URL ``rpc_url`` (None: the spec's URL for ``name``).

    TESTNET, MAINNET and FUTURENET accept exactly the spec's URL; STANDALONE requires a URL
    whose host is loopback (127.0.0.0/8, ::1 or localhost), over http or https.
    Raises NetworkConfigError with ``setting`` ``SOROBAN_RPC_URL`` and code
    ``SOROBAN_RPC_URL_MISMATCH`` (the spec's message), ``SOROBAN_RPC_URL_REQUIRED`` or
    ``SOROBAN_RPC_URL_NOT_LOOPBACK``.
    """
    if name is NetworkName.STANDALONE:
        if rpc_url is None:
            raise NetworkConfigError(
                "SOROBAN_RPC_URL",
                "is required when STELLAR_NETWORK=STANDALONE (a loopback URL such as "
                "http://127.0.0.1:8000/soroban/rpc)",
                code="SOROBAN_RPC_URL_REQUIRED",
            )
        if not is_loopback_url(rpc_url):
            raise NetworkConfigError(
                "SOROBAN_RPC_URL",
                "must be an http(s) URL on a loopback host (127.0.0.0/8, ::1, localhost) when "
                f'STELLAR_NETWORK=STANDALONE, but got "{redact_url(rpc_url)}"',
                code="SOROBAN_RPC_URL_NOT_LOOPBACK",
            )
        return StellarNetwork(name, PASSPHRASES[name], rpc_url)
    expected = EXPECTED_RPC_URLS[name]
    if rpc_url is not None and rpc_url != expected:
        raise NetworkConfigError(
            "SOROBAN_RPC_URL", mismatch_message(name, rpc_url), code="SOROBAN_RPC_URL_MISMATCH"
        )
    return StellarNetwork(name, PASSPHRASES[name], expected)


def mismatch_message(name: NetworkName, rpc_url: str) -> str:
    """The spec's boot error for a public network paired with another RPC URL. The URL shown
    loses any user-info and query (where an RPC provider's API key would be)."""
    return (
        f'Mismatch: STELLAR_NETWORK={name.value} requires SOROBAN_RPC_URL="'
        f'{EXPECTED_RPC_URLS[name]}", but got "{redact_url(rpc_url)}". '
        "This combination would cause on-chain validation failures."
    )


def is_loopback_url(rpc_url: str) -> bool:
    """True for an http(s) URL whose host is ``localhost``, in 127.0.0.0/8, or ``::1``."""
    parts = _split(rpc_url)
    if parts is None or parts.scheme not in ("http", "https") or parts.hostname is None:
        return False
    host = parts.hostname.rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(rpc_url: str) -> str:
    """``rpc_url`` without user-info, query or fragment; unparseable text becomes a fixed
    placeholder (so a stray secret never reaches a log line)."""
    parts = _split(rpc_url)
    if parts is None or not parts.scheme or not parts.netloc:
        return "<not a URL>"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _split(rpc_url: str) -> SplitResult | None:
    try:
        parts = urlsplit(rpc_url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return None
    return parts
