"""``FundingChain`` on stellar-sdk: escrow ``fund`` transactions prepared, signed, checked,
sent and followed over the same Soroban RPC (and circuit breaker) as ``SorobanEscrowLedger``.

- Prepare (spec/escrow-contract.md §9.4-9.5): the investor's account is the source, so its
  one transaction signature authorises ``fund`` and the nested ``token.transfer``
  (source-account credentials); simulate, then ``prepare_transaction`` assembles footprint,
  auth and resource fees; time bound ``FUNDING_TIMEOUT_SECONDS``. Reads are retried.
- Send: once per call, never retried here (``GuardedRpc.call_once``); the submission job asks
  ``getTransaction`` before any resend, and a resend is the same envelope (same hash, same
  sequence number), which the network applies at most once.
- Check: a wallet-signed envelope must hash to the prepared transaction and carry exactly one
  signature, a valid ed25519 signature of the investor's key over that hash.
- Custody: ``ESCROW_PLATFORM_SECRET`` seeds; their accounts are the investor wallets the
  platform signs for (custodial mode). Seeds never leave this object (not in repr or logs).

Errors follow the port; no client-facing message carries XDR, RPC text or an address.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from stellar_sdk import (
    Account,
    Keypair,
    SorobanServer,
    TransactionBuilder,
    TransactionEnvelope,
    scval,
)
from stellar_sdk import xdr as stellar_xdr
from stellar_sdk.exceptions import AccountNotFoundException, BadSignatureError
from stellar_sdk.soroban_rpc import GetTransactionStatus, SendTransactionStatus
from stellar_sdk.strkey import StrKey

from liquifact_adapters.soroban.ledger import SorobanEscrowLedger, not_recognised
from liquifact_core.errors import Forbidden, Unprocessable
from liquifact_core.escrow import contract_error
from liquifact_core.submissions import (
    FUNDING_TIMEOUT_SECONDS,
    PreparedFunding,
    SendResult,
    SendState,
    TransactionState,
    TransactionStatus,
)

_log = logging.getLogger("liquifact.soroban")
BASE_FEE = 100  # stroops per operation, before the simulated resource fee
_SEND_STATES = {
    SendTransactionStatus.PENDING: SendState.PENDING,
    SendTransactionStatus.DUPLICATE: SendState.DUPLICATE,
    SendTransactionStatus.TRY_AGAIN_LATER: SendState.TRY_AGAIN_LATER,
    SendTransactionStatus.ERROR: SendState.REFUSED,
}


def _unprocessable(code: str, message: str) -> Unprocessable:
    return Unprocessable(message, code=code)


class SorobanFundingChain:
    """Funding transactions on the RPC of ``ledger``.

    ``custody``: secret seeds (``S...``) of the accounts the platform signs for; ValueError
    for a seed that is not one. ``timeout_seconds``: how long a prepared transaction stays
    valid (its upper time bound)."""

    def __init__(
        self,
        ledger: SorobanEscrowLedger,
        custody: Iterable[str] = (),
        *,
        timeout_seconds: int = FUNDING_TIMEOUT_SECONDS,
    ) -> None:
        self._ledger = ledger
        self._passphrase = ledger.network_passphrase
        self._timeout = timeout_seconds
        self._custody = custody_keys(custody)

    def __repr__(self) -> str:
        return f"SorobanFundingChain(custodied_accounts={len(self._custody)})"

    # ---- the port ------------------------------------------------------------------------

    def prepare_funding(self, contract: str, investor: str, amount: int) -> PreparedFunding:
        if not StrKey.is_valid_contract(contract):
            raise not_recognised()
        server = self._ledger.server
        account = self._ledger.call("account", lambda: _load_account(server, investor))
        if account is None:
            raise _unprocessable(
                "INVESTOR_ACCOUNT_NOT_FOUND",
                "The investor's account does not exist on the network; fund it with XLM first.",
            )
        transaction = (
            TransactionBuilder(account, self._passphrase, base_fee=BASE_FEE)
            .append_invoke_contract_function_op(
                contract, "fund", [scval.to_address(investor), scval.to_int128(amount)]
            )
            .set_timeout(self._timeout)
            .build()
        )
        simulated = self._ledger.call("simulate", lambda: server.simulate_transaction(transaction))
        self._ledger.simulation_value(simulated, "fund")  # raises the escrow's refusal
        prepared = server.prepare_transaction(transaction, simulated)  # local: no RPC call
        bounds = prepared.transaction.preconditions
        max_time = bounds.time_bounds.max_time if bounds and bounds.time_bounds else 0
        return PreparedFunding(
            envelope=prepared.to_xdr(),
            tx_hash=prepared.hash_hex(),
            expires_at=datetime.fromtimestamp(max_time, UTC),
        )

    def custodies(self, investor: str) -> bool:
        return investor in self._custody

    def sign_custodial(self, prepared: PreparedFunding, investor: str) -> str:
        key = self._custody.get(investor)
        if key is None:
            raise Forbidden(
                "The platform holds no signing key for this wallet.", code="WALLET_NOT_CUSTODIED"
            )
        envelope = TransactionEnvelope.from_xdr(prepared.envelope, self._passphrase)
        envelope.sign(key)
        return envelope.to_xdr()

    def check_signed(self, prepared_envelope: str, signed_envelope: str, investor: str) -> str:
        prepared = TransactionEnvelope.from_xdr(prepared_envelope, self._passphrase)
        try:
            signed = TransactionEnvelope.from_xdr(signed_envelope, self._passphrase)
            signed_hash = signed.hash()
        except Exception as error:  # any undecodable input: the client's mistake
            raise _unprocessable(
                "SIGNED_TRANSACTION_UNREADABLE",
                "signedTransactionXdr is not a Stellar transaction envelope.",
            ) from error
        if signed_hash != prepared.hash():
            raise _unprocessable(
                "SIGNED_TRANSACTION_MISMATCH",
                "The signed transaction is not the one prepared for this commitment.",
            )
        key = Keypair.from_public_key(investor)
        signatures = signed.signatures
        if len(signatures) != 1 or signatures[0].signature_hint != key.signature_hint():
            raise _signature_invalid()
        try:
            key.verify(signed_hash, signatures[0].signature)
        except BadSignatureError as error:
            raise _signature_invalid() from error
        return signed.to_xdr()

    def send(self, signed_envelope: str) -> SendResult:
        envelope = TransactionEnvelope.from_xdr(signed_envelope, self._passphrase)
        server = self._ledger.server
        response = self._ledger.call("send", lambda: server.send_transaction(envelope), retry=False)
        state = _SEND_STATES[response.status]
        reason = _refusal_reason(response.error_result_xdr) if state is SendState.REFUSED else None
        if reason is not None:
            _log.warning("soroban_send_refused reason=%s", reason)
        return SendResult(state, reason)

    def transaction_status(self, tx_hash: str) -> TransactionStatus:
        server = self._ledger.server
        response = self._ledger.call("transaction", lambda: server.get_transaction(tx_hash))
        if response.status is GetTransactionStatus.SUCCESS:
            return TransactionStatus(TransactionState.SUCCESS, ledger=response.ledger)
        if response.status is GetTransactionStatus.FAILED:
            number = _contract_error_number(response.diagnostic_events_xdr or [])
            code = contract_error(number).code if number is not None else "TRANSACTION_FAILED"
            return TransactionStatus(TransactionState.FAILED, code, response.ledger)
        return TransactionStatus(TransactionState.NOT_FOUND)


def custody_keys(seeds: Iterable[str]) -> dict[str, Keypair]:
    """The signing keys of ``seeds`` (``S...``) by account (``G...``). ValueError naming no
    value for anything that is not a secret seed (stellar-sdk's own error quotes it)."""
    try:
        keys = [Keypair.from_secret(seed) for seed in seeds]
    except Exception:
        raise ValueError("custody holds a value that is not a Stellar secret seed") from None
    return {key.public_key: key for key in keys}


def _load_account(server: SorobanServer, investor: str) -> Account | None:
    try:
        return server.load_account(investor)
    except AccountNotFoundException:
        return None


def _signature_invalid() -> Unprocessable:
    return _unprocessable(
        "SIGNATURE_INVALID",
        "The transaction must carry exactly one signature, by the investor's wallet key.",
    )


def _refusal_reason(result_xdr: str | None) -> str | None:
    """The result code name (``txBAD_SEQ``...) of a refused send, when readable."""
    if not result_xdr:
        return None
    try:
        return stellar_xdr.TransactionResult.from_xdr(result_xdr).result.code.name
    except Exception:
        return None


def _contract_error_number(diagnostics: Iterable[str]) -> int | None:
    """The first ``Error(Contract, #N)`` in a failed transaction's diagnostic events."""
    for raw in diagnostics:
        try:
            body = stellar_xdr.DiagnosticEvent.from_xdr(raw).event.body.v0
        except Exception:  # an undecodable event says nothing about the error: skip it
            body = None
        for value in [*body.topics, body.data] if body is not None else []:
            error = value.error
            if error is not None and error.type == stellar_xdr.SCErrorType.SCE_CONTRACT:
                assert error.contract_code is not None
                return error.contract_code.uint32
    return None
