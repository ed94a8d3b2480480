"""A wallet for tests, on stellar-sdk: ask for a challenge, sign it, exchange it, register."""

from __future__ import annotations

from typing import Any

from stellar_sdk import Keypair, TransactionEnvelope

# Starlette's TestClient or an httpx client: their signatures differ in detail.
Client = Any


def challenge_for(client: Client, account: str, **params: str) -> tuple[str, str]:
    """A challenge for ``account`` and its network passphrase (asserting 200)."""
    response = client.get("/v1/auth", params={"account": account, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["transaction"], body["network_passphrase"]


def signed(transaction: str, passphrase: str, *signers: Keypair) -> str:
    """The challenge with each signer's signature added."""
    envelope = TransactionEnvelope.from_xdr(transaction, passphrase)
    for signer in signers:
        envelope.sign(signer)
    return envelope.to_xdr()


def sign_in(client: Client, wallet: Keypair, *signers: Keypair) -> Any:
    """POST /v1/auth with a fresh challenge signed by ``signers`` (default: the wallet)."""
    transaction, passphrase = challenge_for(client, wallet.public_key)
    proof = signed(transaction, passphrase, *(signers or (wallet,)))
    return client.post("/v1/auth", json={"transaction": proof})


def signed_challenge(client: Client, wallet: Keypair) -> str:
    transaction, passphrase = challenge_for(client, wallet.public_key)
    return signed(transaction, passphrase, wallet)
