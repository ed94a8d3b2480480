"""Wallet sign-in (SEP-10) on stellar-sdk's helpers: build a challenge, verify a signed one.

``SignIn`` holds the deployment's signing key and domains (``Settings``). Every check of the
standard is stellar-sdk's (``stellar_sdk.sep.stellar_web_authentication``): the server's
signature, sequence 0, time bounds, the home domain and ``web_auth_domain`` operations, the
``client_domain`` signature, and the client's signatures against its account's signers and
medium threshold (read from Horizon when ``HORIZON_URL`` is set; the account's master key
otherwise, or when Horizon does not know the account). Whatever fails is one 401
``INVALID_CHALLENGE``: the reason goes to the log (never the transaction), not to the client.

The network calls (Horizon, a wallet's ``client_domain`` stellar.toml) are blocking: callers
run these methods on the thread pool.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import attrs
from stellar_sdk import Keypair, Server
from stellar_sdk.client.requests_client import RequestsClient
from stellar_sdk.exceptions import NotFoundError, SdkError
from stellar_sdk.sep.ed25519_public_key_signer import Ed25519PublicKeySigner
from stellar_sdk.sep.exceptions import StellarTomlNotFoundError
from stellar_sdk.sep.stellar_toml import fetch_stellar_toml
from stellar_sdk.sep.stellar_web_authentication import (
    build_challenge_transaction,
    read_challenge_transaction,
    verify_challenge_transaction_signed_by_client_master_key,
    verify_challenge_transaction_threshold,
)

from liquifact_core.addresses import is_valid_account
from liquifact_core.errors import ValidationError
from liquifact_core.wallets import ChallengeRequest
from liquifact_http.logs import get_logger
from liquifact_http.problems import Problem
from liquifact_http.settings import Settings

# Network calls made while a client waits: short, and never retried.
NETWORK_TIMEOUT_S = 5
STELLAR_TOML_PATH = "/.well-known/stellar.toml"
# RFC 9110 section 11.6.1: a 401 names the scheme that gets in; sign-in yields bearer tokens.
SIGN_IN_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="liquifact"'}
_log = get_logger("liquifact.sign_in")


def invalid_challenge(reason: str) -> Problem:
    """The one answer to every challenge that fails verification (``reason``: log only)."""
    _log.info("sign_in_refused", reason=reason)
    return Problem(
        401,
        "INVALID_CHALLENGE",
        "The challenge is not valid; request a new one.",
        headers=SIGN_IN_CHALLENGE,
    )


def wallet_not_registered(register_path: str) -> Problem:
    """A valid signature by a wallet bound to no principal (the challenge is not used up)."""
    _log.info("sign_in_refused", reason="wallet_not_registered")
    return Problem(
        401,
        "WALLET_NOT_REGISTERED",
        "This wallet is not registered: ask an admin to bind it, or register it with "
        f"POST {register_path} where self-registration is open.",
        headers=SIGN_IN_CHALLENGE,
    )


def sign_in_unavailable() -> Problem:
    return Problem(
        503,
        "SIGN_IN_UNAVAILABLE",
        "Wallet sign-in cannot verify signatures right now; retry later.",
    )


def client_domain_refused(code: str, message: str) -> ValidationError:
    """A ``client_domain`` this server will not attribute a challenge to (400, field error
    ``code``): not allowed here, or its stellar.toml gives no signing key."""
    return ValidationError.for_field("client_domain", message, code)


@attrs.frozen
class ProvenWallet:
    """A verified challenge: the account that signed it, the challenge's transaction hash
    (hex, to redeem it once) and when its time bounds end."""

    account: str
    digest: str
    expires_at: datetime


class SignIn:
    """The deployment's SEP-10 server: ``settings`` give the key, domains and network."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.sep10_signing_secret
        self._keypair = None if secret is None else Keypair.from_secret(secret)
        self.home_domain = settings.sign_in_home_domain
        self.web_auth_domain = settings.sign_in_web_auth_domain
        self.endpoint = settings.sign_in_endpoint
        self.network_passphrase = settings.network_passphrase
        self._ttl = settings.sep10_challenge_ttl_seconds
        self._horizon_url = settings.horizon_url
        self._allow_http = settings.sep10_client_domain_allow_http
        self._client_domains = frozenset(settings.sep10_client_domains)

    @property
    def signing_key(self) -> str | None:
        """The public key (``G...``) challenges are signed with; None when not configured."""
        return None if self._keypair is None else self._keypair.public_key

    def stellar_toml(self) -> str:
        """The SEP-1 document: the network, the signing key and the web-auth endpoint (TOML
        basic strings; JSON string escapes are valid TOML escapes for these values)."""
        lines = [f"NETWORK_PASSPHRASE = {json.dumps(self.network_passphrase)}"]
        if self.signing_key is not None:
            lines.append(f"SIGNING_KEY = {json.dumps(self.signing_key)}")
            lines.append(f"WEB_AUTH_ENDPOINT = {json.dumps(self.endpoint)}")
        return "\n".join(lines) + "\n"

    def challenge(self, wanted: ChallengeRequest) -> str:
        """A challenge transaction (base64 XDR) for ``wanted.account``, signed by our key.

        Raises ValidationError (400) for a home domain this server does not serve
        (UNKNOWN_HOME_DOMAIN) or a ``client_domain`` it does not accept or whose stellar.toml
        gives no valid SIGNING_KEY; 503 when sign-in is not configured.
        """
        keypair = self._configured()
        if wanted.home_domain is not None and wanted.home_domain.lower() != self.home_domain:
            raise ValidationError.for_field(
                "home_domain",
                f"must be {self.home_domain} (the domain this server signs for)",
                "UNKNOWN_HOME_DOMAIN",
            )
        client_key = None
        if wanted.client_domain is not None:
            client_key = self._client_signing_key(wanted.client_domain)
        return str(
            build_challenge_transaction(
                server_secret=keypair.secret,
                client_account_id=wanted.account.value,
                home_domain=self.home_domain,
                web_auth_domain=self.web_auth_domain,
                network_passphrase=self.network_passphrase,
                timeout=self._ttl,
                client_domain=wanted.client_domain,
                client_signing_key=client_key,
            )
        )

    def verify(self, transaction: str) -> ProvenWallet:
        """The account a signed challenge proves, or 401 INVALID_CHALLENGE (503 when Horizon
        cannot be asked for the account's signers)."""
        keypair = self._configured()
        try:
            parsed = read_challenge_transaction(
                transaction,
                keypair.public_key,
                self.home_domain,
                self.web_auth_domain,
                self.network_passphrase,
            )
        except Exception as error:  # any malformed or foreign transaction is refused alike
            raise invalid_challenge(type(error).__name__) from None
        account = parsed.client_account_id
        if not is_valid_account(account):  # a muxed (M...) account names no wallet of ours
            raise invalid_challenge("muxed_account")
        signers = self._signers(account)
        try:
            if signers is None:
                verify_challenge_transaction_signed_by_client_master_key(
                    transaction,
                    keypair.public_key,
                    self.home_domain,
                    self.web_auth_domain,
                    self.network_passphrase,
                )
            else:
                threshold, keys = signers
                verify_challenge_transaction_threshold(
                    transaction,
                    keypair.public_key,
                    self.home_domain,
                    self.web_auth_domain,
                    self.network_passphrase,
                    threshold,
                    keys,
                )
        except Exception as error:
            raise invalid_challenge(type(error).__name__) from None
        envelope = parsed.transaction
        bounds = envelope.transaction.preconditions
        max_time = bounds.time_bounds.max_time if bounds and bounds.time_bounds else 0
        return ProvenWallet(
            account=account,
            digest=envelope.hash_hex(),
            expires_at=datetime.fromtimestamp(max_time, UTC),
        )

    # ---- helpers ----------------------------------------------------------------------------
    def _configured(self) -> Keypair:
        if self._keypair is None:
            raise Problem(
                503,
                "SIGN_IN_NOT_CONFIGURED",
                "Wallet sign-in is not configured on this server (SEP10_SIGNING_SECRET).",
            )
        return self._keypair

    def _client_signing_key(self, domain: str) -> str:
        """The SIGNING_KEY of the wallet's ``client_domain`` stellar.toml (SEP-10 section
        "Verifying the Client Domain"), fetched over HTTPS (HTTP only where allowed), from a
        domain of ``SEP10_CLIENT_DOMAINS`` only: unset, no client_domain is accepted. An open
        list would let any caller make this server fetch from a host of its choosing while a
        worker thread waits (an outside attack froze the API with slow-dripping hosts and
        reached internal addresses through redirects)."""
        domain = domain.lower()
        if domain not in self._client_domains:
            raise client_domain_refused(
                "CLIENT_DOMAIN_NOT_ALLOWED", "is not a wallet domain this server accepts"
            )
        client = RequestsClient(num_retries=0, request_timeout=NETWORK_TIMEOUT_S)
        try:
            document = fetch_stellar_toml(domain, client=client, use_http=self._allow_http)
        except StellarTomlNotFoundError:
            document = {}
        except Exception as error:  # unreachable, too large, not TOML ...
            _log.info("client_domain_unreadable", error_type=type(error).__name__)
            raise client_domain_refused(
                "CLIENT_DOMAIN_UNAVAILABLE", "has no stellar.toml this server could read"
            ) from None
        key = document.get("SIGNING_KEY")
        if not isinstance(key, str) or not is_valid_account(key):
            raise client_domain_refused(
                "CLIENT_DOMAIN_UNAVAILABLE", "has no valid SIGNING_KEY in its stellar.toml"
            )
        return key

    def _signers(self, account: str) -> tuple[int, list[Ed25519PublicKeySigner]] | None:
        """The account's medium threshold and ed25519 signers from Horizon; None when no
        Horizon is configured or it does not know the account (then the master key signs)."""
        if self._horizon_url is None:
            return None
        client = RequestsClient(num_retries=0, request_timeout=NETWORK_TIMEOUT_S)
        try:
            record = Server(self._horizon_url, client=client).accounts().account_id(account).call()
        except NotFoundError:
            return None
        except SdkError as error:
            _log.warning("horizon_unavailable", error_type=type(error).__name__)
            raise sign_in_unavailable() from None
        try:
            threshold = int(record["thresholds"]["med_threshold"])
            keys = [
                Ed25519PublicKeySigner(str(signer["key"]), int(signer["weight"]))
                for signer in record["signers"]
                if signer.get("type") == "ed25519_public_key" and int(signer["weight"]) > 0
            ]
        except (KeyError, TypeError, ValueError):
            _log.warning("horizon_unavailable", error_type="unexpected_account_record")
            raise sign_in_unavailable() from None
        return threshold, keys
