"""Soroban authorization: what simulation records and what submission enforces.

Recording (simulateTransaction): an address equal to the transaction's source account gets
SOURCE_ACCOUNT credentials (the envelope signature covers it); any other address gets ADDRESS
credentials (ADDRESS_V2 when the request asks for upgraded auth, as stellar-sdk does by
default) with a random nonce, expiration 0 and a Void signature, for the client to sign with
`stellar_sdk.authorize_entry`.

Enforcement (sendTransaction): every `require_auth` of the call must be matched by an entry
whose root invocation is the same tree (compared as XDR). SOURCE_ACCOUNT entries count only for
the source account. Address entries must carry a signature of the default account contract's
shape `Vec[Map{public_key, signature}]` by that account's ed25519 key over the CAP-46/71
preimage, unexpired (expiration ledger >= the applying ledger) and with an unused nonce.
Classic multisig (extra signers, thresholds) is not modelled: the master key is the only signer.
"""

from __future__ import annotations

import secrets

from stellar_sdk import Address, Keypair, scval
from stellar_sdk import xdr as x
from stellar_sdk.auth import authorization_payload_hash, build_authorization_preimage
from stellar_sdk.exceptions import BadSignatureError

from tests.soroban_peer.contract import AuthNeed
from tests.soroban_peer.model import HostError

SOURCE = x.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
ADDRESS = x.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS
ADDRESS_V2 = x.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS_V2


def record(needs: list[AuthNeed], source: str, *, upgraded: bool) -> list[str]:
    """The `auth` list (base64 SorobanAuthorizationEntry) a recording simulation returns."""
    entries = []
    for need in needs:
        if need.address == source:
            credentials = x.SorobanCredentials(SOURCE)
        else:
            address_credentials = x.SorobanAddressCredentials(
                address=Address(need.address).to_xdr_sc_address(),
                nonce=x.Int64(secrets.randbelow(2**63)),
                signature_expiration_ledger=x.Uint32(0),
                signature=scval.to_void(),
            )
            if upgraded:
                credentials = x.SorobanCredentials(ADDRESS_V2, address_v2=address_credentials)
            else:
                credentials = x.SorobanCredentials(ADDRESS, address=address_credentials)
        entry = x.SorobanAuthorizationEntry(
            credentials=credentials, root_invocation=need.invocation
        )
        entries.append(entry.to_xdr())
    return entries


def _address_credentials(
    entry: x.SorobanAuthorizationEntry,
) -> x.SorobanAddressCredentials | None:
    if entry.credentials.type == ADDRESS:
        return entry.credentials.address
    if entry.credentials.type == ADDRESS_V2:
        return entry.credentials.address_v2
    return None


def _signature_valid(
    entry: x.SorobanAuthorizationEntry,
    credentials: x.SorobanAddressCredentials,
    account: str,
    passphrase: str,
) -> bool:
    preimage = build_authorization_preimage(
        entry, credentials.signature_expiration_ledger.uint32, passphrase
    )
    payload = authorization_payload_hash(preimage)
    key = Keypair.from_public_key(account)
    try:
        signatures = scval.from_vec(credentials.signature)
    except ValueError:
        return False
    for signature in signatures:
        try:
            fields = scval.from_struct(signature)
            if scval.from_bytes(fields["public_key"]) != key.raw_public_key():
                continue
            key.verify(payload, scval.from_bytes(fields["signature"]))
        except (ValueError, KeyError, BadSignatureError):
            continue
        return True
    return False


def enforce(
    needs: list[AuthNeed],
    entries: list[x.SorobanAuthorizationEntry],
    source: str,
    *,
    ledger: int,
    passphrase: str,
    used_nonces: set[tuple[str, int]],
) -> None:
    """Raise `HostError(Auth, InvalidAction)` unless every need is authorised (see module doc).

    Consumes the nonces of the address entries it accepts (adds them to `used_nonces`).
    """
    for need in needs:
        wanted = need.invocation.to_xdr()
        for entry in entries:
            if entry.root_invocation.to_xdr() != wanted:
                continue
            credentials = _address_credentials(entry)
            if credentials is None:
                if entry.credentials.type == SOURCE and need.address == source:
                    break
                continue
            if Address.from_xdr_sc_address(credentials.address).address != need.address:
                continue
            nonce = (need.address, credentials.nonce.int64)
            expired = credentials.signature_expiration_ledger.uint32 < ledger
            if nonce in used_nonces or expired:
                raise HostError("Auth", "InvalidAction", "nonce reused or signature expired")
            if not _signature_valid(entry, credentials, need.address, passphrase):
                raise HostError("Auth", "InvalidAction", "bad authorization signature")
            used_nonces.add(nonce)
            break
        else:
            raise HostError("Auth", "InvalidAction", f"{need.address} has not authorized this call")
