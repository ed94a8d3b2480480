"""The Soroban JSON-RPC methods over the model, answered with real XDR.

Request and response shapes are those stellar-sdk's `SorobanServer` sends and parses
(`stellar_sdk.soroban_rpc`). Every applied transaction closes one ledger of its own (its
close time follows the wall clock, see `Chain`); history is never trimmed, so `oldestLedger`
is the first ledger.
Errors are JSON-RPC errors (`RpcError`): -32601 unknown method, -32602 invalid params.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import Address, Keypair, Network, TransactionEnvelope, scval
from stellar_sdk import xdr as x
from stellar_sdk.exceptions import BadSignatureError
from stellar_sdk.operation import InvokeHostFunction

from tests.soroban_peer import auth, codec, contract
from tests.soroban_peer.model import Chain, ContractError, HostError

PASSPHRASE = Network.STANDALONE_NETWORK_PASSPHRASE
BASE_FEE = 100  # stroops, the inclusion fee floor per operation
RESOURCE_FEE = 50_000  # stroops, the peer's flat minimum resource fee per invocation
FIRST_LEDGER = 1_000
MAX_EVENTS_LIMIT = 10_000


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class TxRecord:
    hash: str
    status: str  # SUCCESS or FAILED
    ledger: int
    created_at: int
    envelope_xdr: str
    result_xdr: str
    meta_xdr: str
    diagnostics: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


@dataclass
class EventRecord:
    ledger: int
    close_time: int
    tx_hash: str
    index: int  # position of the event in its transaction
    event: x.ContractEvent
    tx_index: int = 1
    op_index: int = 0

    @property
    def position(self) -> tuple[int, int]:
        toid = (self.ledger << 32) | (self.tx_index << 12) | self.op_index
        return toid, self.index

    @property
    def id(self) -> str:
        toid, index = self.position
        return f"{toid:019d}-{index:010d}"


def _parse_cursor(cursor: str) -> tuple[int, int]:
    try:
        toid, _, index = cursor.partition("-")
        return int(toid), int(index or 0)
    except ValueError as exc:
        raise RpcError(-32602, f"invalid cursor {cursor!r}") from exc


def error_text(error: ContractError | HostError) -> str:
    """The simulation `error` string of stellar-rpc for a failed call."""
    head = (
        f"Error(Contract, #{error.code})"
        if isinstance(error, ContractError)
        else (f"Error({error.kind}, {error.code})")
    )
    return (
        f"HostError: {head}\n\nEvent log (newest first):\n"
        f'   0: [Diagnostic Event] topics:[error, {head}], data:"escalating error to panic"\n'
    )


def error_scval(error: ContractError | HostError) -> x.SCVal:
    if isinstance(error, ContractError):
        return codec.contract_error(error.code)
    return codec.host_error(error.kind, error.code)


class Peer:
    """The chain and its RPC. Thread-safe: every method runs under one lock."""

    def __init__(self, *, start_time: int | None = None, friendbot_url: str | None = None) -> None:
        self.lock = threading.RLock()
        start = int(time.time()) if start_time is None else start_time
        self.chain = Chain(sequence=FIRST_LEDGER, close_time=start, offset=start - int(time.time()))
        self.oldest = (FIRST_LEDGER, start)
        self.friendbot_url = friendbot_url
        self.txs: dict[str, TxRecord] = {}
        self.events: list[EventRecord] = []
        self.used_nonces: set[tuple[str, int]] = set()
        self.dropped: set[str] = set()
        self.methods = {
            "getHealth": self.get_health,
            "getNetwork": self.get_network,
            "getLatestLedger": self.get_latest_ledger,
            "getLedgerEntries": self.get_ledger_entries,
            "simulateTransaction": self.simulate_transaction,
            "sendTransaction": self.send_transaction,
            "getTransaction": self.get_transaction,
            "getEvents": self.get_events,
        }

    # --- dispatch ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Any,
        *,
        forced_error: int | None = None,
        drop: bool = False,
        lag: bool = False,
    ) -> dict[str, Any]:
        """Run one JSON-RPC method; `forced_error`/`drop`/`lag` come from injected faults."""
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(-32601, f"method {method!r} not found")
        if params is not None and not isinstance(params, dict):
            raise RpcError(-32602, "params must be an object")
        with self.lock:
            if method == "sendTransaction":
                return self.send_transaction(params or {}, forced_error=forced_error, drop=drop)
            if method == "simulateTransaction":
                return self.simulate_transaction(params or {}, forced_error=forced_error)
            if method == "getTransaction" and lag:
                return self.get_transaction(params or {}, unseen=True)
            return handler(params or {})

    def _ledger_fields(self) -> dict[str, Any]:
        return {
            "latestLedger": self.chain.sequence,
            "latestLedgerCloseTime": str(self.chain.close_time),
            "oldestLedger": self.oldest[0],
            "oldestLedgerCloseTime": str(self.oldest[1]),
        }

    # --- simple reads ------------------------------------------------------------------------

    def get_health(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "healthy",
            "latestLedger": self.chain.sequence,
            "oldestLedger": self.oldest[0],
            "ledgerRetentionWindow": self.chain.sequence - self.oldest[0] + 1,
        }

    def get_network(self, _params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "passphrase": PASSPHRASE,
            "protocolVersion": codec.PROTOCOL_VERSION,
        }
        if self.friendbot_url:
            result["friendbotUrl"] = self.friendbot_url
        return result

    def get_latest_ledger(self, _params: dict[str, Any]) -> dict[str, Any]:
        seq, close = self.chain.sequence, self.chain.close_time
        return {
            "id": codec.ledger_hash(seq).hex(),
            "protocolVersion": codec.PROTOCOL_VERSION,
            "sequence": seq,
            "closeTime": str(close),
            "headerXdr": codec.ledger_header(seq, close).to_xdr(),
            "metadataXdr": codec.ledger_close_meta(seq, close),
        }

    def get_ledger_entries(self, params: dict[str, Any]) -> dict[str, Any]:
        """Account entries, escrow instances, investor contributions and token balances."""
        keys = params.get("keys")
        if not isinstance(keys, list) or not keys:
            raise RpcError(-32602, "keys must be a non-empty list")
        entries = []
        for key_xdr in keys:
            try:
                key = x.LedgerKey.from_xdr(key_xdr)
            except Exception as exc:
                raise RpcError(-32602, f"invalid ledger key: {exc}") from exc
            data = self._entry(key)
            if data is not None:
                entries.append(
                    {
                        "key": key_xdr,
                        "xdr": data.to_xdr(),
                        "lastModifiedLedgerSeq": self.chain.sequence,
                        "liveUntilLedgerSeq": self.chain.sequence + 518_400,
                    }
                )
        return {"entries": entries, "latestLedger": self.chain.sequence}

    def _entry(self, key: x.LedgerKey) -> x.LedgerEntryData | None:
        chain = self.chain
        if key.type == x.LedgerEntryType.ACCOUNT:
            assert key.account is not None
            account = Keypair.from_raw_ed25519_public_key(
                key.account.account_id.account_id.ed25519.uint256  # type: ignore[union-attr]
            ).public_key
            if account not in chain.accounts:
                return None
            return codec.account_entry(account, chain.accounts[account], chain.xlm[account])
        if key.type != x.LedgerEntryType.CONTRACT_DATA:
            return None
        assert key.contract_data is not None
        owner_address = Address.from_xdr_sc_address(key.contract_data.contract).address
        data_key = key.contract_data.key
        if data_key.type == x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE:
            if owner_address in chain.escrows:
                storage = contract.instance_storage(chain.escrows[owner_address])
                return codec.instance_entry(owner_address, storage)
            if owner_address in chain.tokens:
                return codec.instance_entry(owner_address, {})
            return None
        try:
            name, *args = scval.from_vec(data_key)
            label = scval.from_symbol(name)
            holder = scval.from_address(args[0]).address if args else ""
        except (ValueError, IndexError):
            return None
        if label == "InvestorContribution" and owner_address in chain.escrows:
            amount = chain.escrows[owner_address].contributions.get(holder)
            if amount is None:
                return None
            return codec.contract_data_entry(owner_address, data_key, scval.to_int128(amount))
        if label == "Balance" and owner_address in chain.tokens:
            balance = codec.struct(
                amount=scval.to_int128(chain.balance(owner_address, holder)),
                authorized=scval.to_bool(True),
                clawback=scval.to_bool(False),
            )
            return codec.contract_data_entry(owner_address, data_key, balance)
        return None

    # --- transactions --------------------------------------------------------------------------

    def _decode(self, params: dict[str, Any]) -> TransactionEnvelope:
        raw = params.get("transaction")
        if not isinstance(raw, str):
            raise RpcError(-32602, "transaction must be a base64 TransactionEnvelope")
        try:
            return TransactionEnvelope.from_xdr(raw, PASSPHRASE)
        except Exception as exc:
            raise RpcError(-32602, f"invalid transaction envelope: {exc}") from exc

    @staticmethod
    def _invocation(
        envelope: TransactionEnvelope,
    ) -> tuple[InvokeHostFunction, x.InvokeContractArgs]:
        operations = envelope.transaction.operations
        if len(operations) != 1 or not isinstance(operations[0], InvokeHostFunction):
            raise RpcError(-32602, "expected exactly one InvokeHostFunction operation")
        op = operations[0]
        if op.host_function.type != x.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT:
            raise RpcError(-32602, "only contract invocations are supported")
        assert op.host_function.invoke_contract is not None
        return op, op.host_function.invoke_contract

    @staticmethod
    def _source(envelope: TransactionEnvelope) -> str:
        return envelope.transaction.source.account_id

    def _run(
        self, chain: Chain, call: x.InvokeContractArgs, forced_error: int | None
    ) -> contract.Outcome:
        if forced_error is not None:
            raise ContractError(forced_error)
        target = Address.from_xdr_sc_address(call.contract_address).address
        function = call.function_name.sc_symbol.decode()
        return contract.invoke(chain, target, function, list(call.args))

    def simulate_transaction(
        self, params: dict[str, Any], *, forced_error: int | None = None
    ) -> dict[str, Any]:
        """Run the invocation on a copy of the chain (nothing is kept) and report its needs."""
        envelope = self._decode(params)
        _op, call = self._invocation(envelope)
        upgraded = params.get("useUpgradedAuth", True) is not False
        latest = {"latestLedger": self.chain.sequence}
        try:
            outcome = self._run(copy.deepcopy(self.chain), call, forced_error)
        except (ContractError, HostError) as error:
            target = Address.from_xdr_sc_address(call.contract_address).address
            diagnostic = codec.diagnostic_error_event(
                target, error_scval(error), "escalating error to panic"
            )
            return {"error": error_text(error), "events": [diagnostic.to_xdr()], **latest}
        fee = RESOURCE_FEE + 1_000 * len(outcome.read_write)
        data = codec.soroban_data(_unique(outcome.read_only), outcome.read_write, fee)
        diagnostics = [
            x.DiagnosticEvent(in_successful_contract_call=True, event=event).to_xdr()
            for event in outcome.events
        ]
        auth_entries = auth.record(outcome.auth, self._source(envelope), upgraded=upgraded)
        return {
            "transactionData": data.to_xdr(),
            "minResourceFee": str(fee),
            "events": diagnostics,
            "results": [{"auth": auth_entries, "xdr": outcome.value.to_xdr()}],
            "cost": {"cpuInsns": "2000000", "memBytes": "1048576"},
            **latest,
        }

    def _refusal(self, envelope: TransactionEnvelope) -> x.TransactionResultCode | None:
        """Why stellar-core would refuse the transaction at submission, or None."""
        codes = x.TransactionResultCode
        tx = envelope.transaction
        source = self._source(envelope)
        if source not in self.chain.accounts:
            return codes.txNO_ACCOUNT
        if tx.sequence != self.chain.accounts[source] + 1:
            return codes.txBAD_SEQ
        # Time bounds against the wall clock, not the ledger clock: a test that fast-forwards
        # the ledger clock (maturity) keeps its `set_timeout(180)` transactions valid.
        now = int(time.time())
        bounds = tx.preconditions.time_bounds if tx.preconditions else None
        if bounds and bounds.min_time and now < bounds.min_time:
            return codes.txTOO_EARLY
        if bounds and bounds.max_time and now > bounds.max_time:
            return codes.txTOO_LATE
        signed, foreign = _signatures(envelope, source)
        if signed == 0:
            return codes.txBAD_AUTH
        if foreign:
            return codes.txBAD_AUTH_EXTRA
        try:
            op, _call = self._invocation(envelope)
        except RpcError:
            return codes.txMALFORMED
        if op.source is not None and op.source.account_id != source:
            return codes.txBAD_AUTH
        if tx.soroban_data is None:
            return codes.txSOROBAN_INVALID
        if tx.fee < tx.soroban_data.resource_fee.int64 + BASE_FEE:
            return codes.txINSUFFICIENT_FEE
        return None

    def send_transaction(
        self, params: dict[str, Any], *, forced_error: int | None = None, drop: bool = False
    ) -> dict[str, Any]:
        """Check the envelope like stellar-core, then apply it in a new ledger (PENDING).

        A refused envelope answers ERROR with `errorResultXdr` and changes nothing. A dropped
        one answers PENDING and never lands (getTransaction NOT_FOUND, sequence not used).
        """
        envelope = self._decode(params)
        tx_hash = envelope.hash_hex()
        base = {
            "hash": tx_hash,
            "latestLedger": self.chain.sequence,
            "latestLedgerCloseTime": str(self.chain.close_time),
        }
        refusal = self._refusal(envelope)
        if refusal is not None:
            return {**base, "status": "ERROR", "errorResultXdr": codec.rejected_result(refusal)}
        if drop:
            self.dropped.add(tx_hash)
            return {**base, "status": "PENDING"}
        self.dropped.discard(tx_hash)
        self._apply(envelope, tx_hash, forced_error)
        return {**base, "status": "PENDING"}

    def _apply(self, envelope: TransactionEnvelope, tx_hash: str, forced_error: int | None) -> None:
        tx = envelope.transaction
        source = self._source(envelope)
        op, call = self._invocation(envelope)
        assert tx.soroban_data is not None
        chain = self.chain
        chain.accounts[source] = tx.sequence
        fee = BASE_FEE + tx.soroban_data.resource_fee.int64
        chain.xlm[source] -= fee
        ledger = chain.close_ledger()
        sandbox = copy.deepcopy(chain)
        nonces = set(self.used_nonces)
        target = Address.from_xdr_sc_address(call.contract_address).address
        try:
            outcome = self._run(sandbox, call, forced_error)
            footprint = tx.soroban_data.resources.footprint
            declared = {k.to_xdr() for k in [*footprint.read_only, *footprint.read_write]}
            if codec.instance_key(target).to_xdr() not in declared:
                raise HostError("Storage", "ExceededLimit", "contract instance not in footprint")
            auth.enforce(
                outcome.auth,
                op.auth,
                source,
                ledger=ledger,
                passphrase=PASSPHRASE,
                used_nonces=nonces,
            )
        except (ContractError, HostError) as error:
            diagnostic = codec.diagnostic_error_event(
                target, error_scval(error), "escalating error to panic"
            ).to_xdr()
            self.txs[tx_hash] = TxRecord(
                hash=tx_hash,
                status="FAILED",
                ledger=ledger,
                created_at=chain.close_time,
                envelope_xdr=envelope.to_xdr(),
                result_xdr=codec.transaction_result(fee, success=False),
                meta_xdr=codec.transaction_meta(None, [], [x.DiagnosticEvent.from_xdr(diagnostic)]),
                diagnostics=[diagnostic],
            )
            return
        self.chain, self.used_nonces = sandbox, nonces
        records = [
            EventRecord(ledger, sandbox.close_time, tx_hash, i, event)
            for i, event in enumerate(outcome.events)
        ]
        self.events.extend(records)
        self.txs[tx_hash] = TxRecord(
            hash=tx_hash,
            status="SUCCESS",
            ledger=ledger,
            created_at=sandbox.close_time,
            envelope_xdr=envelope.to_xdr(),
            result_xdr=codec.transaction_result(fee, success=True, digest=_digest(outcome.value)),
            meta_xdr=codec.transaction_meta(outcome.value, outcome.events, []),
            events=[event.to_xdr() for event in outcome.events],
        )

    def get_transaction(self, params: dict[str, Any], *, unseen: bool = False) -> dict[str, Any]:
        """The transaction's record; NOT_FOUND when unknown or ``unseen`` (a lagging RPC)."""
        tx_hash = params.get("hash")
        if not isinstance(tx_hash, str):
            raise RpcError(-32602, "hash must be a hex string")
        record = None if unseen else self.txs.get(tx_hash)
        base = {"txHash": tx_hash, **self._ledger_fields()}
        if record is None:
            return {"status": "NOT_FOUND", **base}
        return {
            **base,
            "status": record.status,
            "applicationOrder": 1,
            "feeBump": False,
            "envelopeXdr": record.envelope_xdr,
            "resultXdr": record.result_xdr,
            "resultMetaXdr": record.meta_xdr,
            "diagnosticEventsXdr": record.diagnostics or None,
            "events": {"transactionEventsXdr": [], "contractEventsXdr": [record.events]},
            "ledger": record.ledger,
            "createdAt": str(record.created_at),
        }

    def system_call(self, target: str, function: str, args: list[x.SCVal]) -> x.SCVal:
        """Apply a call with no transaction and no auth check, in a ledger of its own (for the
        control API: init, legal hold). Its events get a synthetic transaction hash."""
        sandbox = copy.deepcopy(self.chain)
        ledger = sandbox.close_ledger()
        outcome = contract.invoke(sandbox, target, function, args)
        self.chain = sandbox
        tx_hash = hashlib.sha256(f"control:{ledger}:{target}:{function}".encode()).hexdigest()
        self.events.extend(
            EventRecord(ledger, sandbox.close_time, tx_hash, i, event)
            for i, event in enumerate(outcome.events)
        )
        return outcome.value

    # --- events ----------------------------------------------------------------------------

    def get_events(self, params: dict[str, Any]) -> dict[str, Any]:
        """Contract events after `pagination.cursor`, or from `startLedger` (inclusive) up to
        `endLedger` (exclusive); filters by type, contractIds and topics ("*" one segment,
        "**" any rest). The answer's cursor is the last event's id when the page is full,
        else the end of the searched window (so polling with it never repeats an event)."""
        pagination = params.get("pagination") or {}
        cursor = pagination.get("cursor")
        limit = int(pagination.get("limit") or 100)
        if not 0 < limit <= MAX_EVENTS_LIMIT:
            raise RpcError(-32602, f"limit must be between 1 and {MAX_EVENTS_LIMIT}")
        start, end = params.get("startLedger"), params.get("endLedger")
        latest = self.chain.sequence
        if cursor:
            if start or end:
                raise RpcError(-32602, "startLedger/endLedger and cursor cannot both be set")
            after = _parse_cursor(cursor)
        else:
            if not isinstance(start, int) or not self.oldest[0] <= start <= latest:
                raise RpcError(
                    -32600,
                    f"startLedger must be between the oldest ledger: {self.oldest[0]} "
                    f"and the latest ledger: {latest}",
                )
            after = ((start << 32) - 1, 0)
        window_end = end if isinstance(end, int) and end <= latest + 1 else latest + 1
        filters = params.get("filters") or []
        if len(filters) > 5:
            raise RpcError(-32602, "at most 5 filters")
        page = []
        for record in sorted(self.events, key=lambda r: r.position):
            if record.position <= after or record.ledger >= window_end:
                continue
            if filters and not any(_matches(f, record) for f in filters):
                continue
            page.append(record)
            if len(page) == limit:
                break
        next_cursor = page[-1].id if len(page) == limit else f"{window_end << 32:019d}-{0:010d}"
        return {
            "events": [_event_json(record) for record in page],
            "cursor": next_cursor,
            **self._ledger_fields(),
        }


def _unique(keys: list[x.LedgerKey]) -> list[x.LedgerKey]:
    seen: dict[str, x.LedgerKey] = {}
    for key in keys:
        seen.setdefault(key.to_xdr(), key)
    return list(seen.values())


def _digest(value: x.SCVal) -> bytes:
    return hashlib.sha256(value.to_xdr_bytes()).digest()


def _signatures(envelope: TransactionEnvelope, source: str) -> tuple[int, int]:
    """(valid signatures of the source's master key, other signatures) on the envelope.

    Like stellar-core: none valid is txBAD_AUTH, any unused one is txBAD_AUTH_EXTRA.
    """
    key = Keypair.from_public_key(source)
    payload = envelope.hash()
    valid = 0
    for decorated in envelope.signatures:
        try:
            key.verify(payload, decorated.signature)
        except BadSignatureError:
            continue
        valid += 1
    return valid, len(envelope.signatures) - valid


def _matches(spec: dict[str, Any], record: EventRecord) -> bool:
    if spec.get("type") not in (None, "contract"):
        return False
    contract_ids = spec.get("contractIds")
    event_contract = record.event.contract_id
    assert event_contract is not None
    contract_address = Address.from_raw_contract(event_contract.contract_id.hash).address
    if contract_ids and contract_address not in contract_ids:
        return False
    topic_filters = spec.get("topics")
    if not topic_filters:
        return True
    assert record.event.body.v0 is not None
    topics = [t.to_xdr() for t in record.event.body.v0.topics]
    return any(_topics_match(list(segments), topics) for segments in topic_filters)


def _topics_match(segments: list[str], topics: list[str]) -> bool:
    if segments and segments[-1] == "**":
        segments = segments[:-1]
        if len(topics) < len(segments):
            return False
        topics = topics[: len(segments)]
    if len(segments) != len(topics):
        return False
    return all(s in ("*", t) for s, t in zip(segments, topics, strict=True))


def _event_json(record: EventRecord) -> dict[str, Any]:
    body = record.event.body.v0
    assert body is not None and record.event.contract_id is not None
    return {
        "type": "contract",
        "ledger": record.ledger,
        "ledgerClosedAt": codec.iso_time(record.close_time),
        "contractId": Address.from_raw_contract(record.event.contract_id.contract_id.hash).address,
        "id": record.id,
        "operationIndex": record.op_index,
        "transactionIndex": record.tx_index,
        "txHash": record.tx_hash,
        "topic": [topic.to_xdr() for topic in body.topics],
        "value": body.data.to_xdr(),
    }


__all__ = ["PASSPHRASE", "Peer", "RpcError"]
