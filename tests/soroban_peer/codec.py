"""XDR building blocks of the Soroban peer, all made with stellar-sdk's xdr classes and scval.

Encodings follow docs (spec) `escrow-contract.md` §7: a struct is an ScMap keyed by field name
(keys sorted, as soroban-sdk writes them), `Option::None` is Void, the snapshot/commitment
enums are `Vec[Symbol("None")]` or `Vec[Symbol("Some"), value]`. Amounts are i128 in the
token's smallest unit, times are u64 Unix seconds, bps are i64, status is u32.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from stellar_sdk import Address, Keypair, scval
from stellar_sdk import xdr as x

T = TypeVar("T")

# A fixed stand-in for the escrow WASM hash (the peer runs no WASM).
ESCROW_WASM_HASH = hashlib.sha256(b"liquifact_escrow v0.1.0 (soroban peer model)").digest()
PROTOCOL_VERSION = 23


def sym(text: str) -> x.SCVal:
    return scval.to_symbol(text)


def addr(address: str) -> x.SCVal:
    return scval.to_address(address)


def struct(**fields: x.SCVal) -> x.SCVal:
    """A `#[contracttype]` struct: ScMap keyed by field-name Symbols, keys sorted."""
    return scval.to_struct(fields)


def option(value: T | None, encode: Callable[[T], x.SCVal]) -> x.SCVal:
    """`Option<T>` as a function argument/return: None is Void."""
    return scval.to_void() if value is None else encode(value)


def option_enum(value: x.SCVal | None) -> x.SCVal:
    """The contract's own None/Some enums (snapshot, collateral): Vec[Symbol, value?]."""
    if value is None:
        return scval.to_vec([sym("None")])
    return scval.to_vec([sym("Some"), value])


def contract_error(code: int) -> x.SCVal:
    """`Error(Contract, #code)` as an ScVal."""
    return x.SCVal(
        x.SCValType.SCV_ERROR,
        error=x.SCError(x.SCErrorType.SCE_CONTRACT, contract_code=x.Uint32(code)),
    )


def host_error(kind: str, code: str) -> x.SCVal:
    """A host error such as `Error(Auth, InvalidAction)` as an ScVal."""
    # `WasmVm` is SCE_WASM_VM: the kind's CamelCase gives the XDR name, as the code's does.
    error_type = x.SCErrorType[f"SCE_{_snake(kind).upper()}"]
    error_code = x.SCErrorCode[f"SCEC_{_snake(code).upper()}"]
    return x.SCVal(x.SCValType.SCV_ERROR, error=x.SCError(error_type, code=error_code))


def _snake(camel: str) -> str:
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(camel))


def contract_id(contract: str) -> x.ContractID:
    sc_address = Address(contract).to_xdr_sc_address()
    assert sc_address.contract_id is not None
    return sc_address.contract_id


def contract_event(contract: str, topics: list[x.SCVal], data: x.SCVal) -> x.ContractEvent:
    return x.ContractEvent(
        ext=x.ExtensionPoint(0),
        contract_id=contract_id(contract),
        type=x.ContractEventType.CONTRACT,
        body=x.ContractEventBody(0, v0=x.ContractEventV0(topics=topics, data=data)),
    )


def diagnostic_error_event(contract: str, error: x.SCVal, message: str) -> x.DiagnosticEvent:
    """The host's `error` diagnostic event for a failed call (topics: "error", the error)."""
    event = x.ContractEvent(
        ext=x.ExtensionPoint(0),
        contract_id=contract_id(contract),
        type=x.ContractEventType.DIAGNOSTIC,
        body=x.ContractEventBody(
            0,
            v0=x.ContractEventV0(topics=[sym("error"), error], data=scval.to_string(message)),
        ),
    )
    return x.DiagnosticEvent(in_successful_contract_call=False, event=event)


# --- ledger keys and entries -------------------------------------------------------------


def account_key(account: str) -> x.LedgerKey:
    return x.LedgerKey(
        x.LedgerEntryType.ACCOUNT,
        account=x.LedgerKeyAccount(account_id=Keypair.from_public_key(account).xdr_account_id()),
    )


def contract_data_key(contract: str, key: x.SCVal, *, persistent: bool = True) -> x.LedgerKey:
    durability = (
        x.ContractDataDurability.PERSISTENT if persistent else x.ContractDataDurability.TEMPORARY
    )
    return x.LedgerKey(
        x.LedgerEntryType.CONTRACT_DATA,
        contract_data=x.LedgerKeyContractData(
            contract=Address(contract).to_xdr_sc_address(), key=key, durability=durability
        ),
    )


def instance_key(contract: str) -> x.LedgerKey:
    return contract_data_key(contract, x.SCVal(x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE))


def data_key(name: str, *args: x.SCVal) -> x.SCVal:
    """A `#[contracttype] enum DataKey` variant: Vec[Symbol(name), args...]."""
    return scval.to_vec([sym(name), *args])


def account_entry(account: str, sequence: int, balance: int) -> x.LedgerEntryData:
    """An ACCOUNT entry (balance in stroops) with the master key as its only signer."""
    return x.LedgerEntryData(
        x.LedgerEntryType.ACCOUNT,
        account=x.AccountEntry(
            account_id=Keypair.from_public_key(account).xdr_account_id(),
            balance=x.Int64(balance),
            seq_num=x.SequenceNumber(x.Int64(sequence)),
            num_sub_entries=x.Uint32(0),
            inflation_dest=None,
            flags=x.Uint32(0),
            home_domain=x.String32(b""),
            thresholds=x.Thresholds(bytes([1, 0, 0, 0])),
            signers=[],
            ext=x.AccountEntryExt(0),
        ),
    )


def contract_data_entry(contract: str, key: x.SCVal, val: x.SCVal) -> x.LedgerEntryData:
    return x.LedgerEntryData(
        x.LedgerEntryType.CONTRACT_DATA,
        contract_data=x.ContractDataEntry(
            ext=x.ExtensionPoint(0),
            contract=Address(contract).to_xdr_sc_address(),
            key=key,
            durability=x.ContractDataDurability.PERSISTENT,
            val=val,
        ),
    )


def instance_entry(contract: str, storage: dict[x.SCVal, x.SCVal]) -> x.LedgerEntryData:
    """The contract instance entry: the escrow WASM hash and its instance storage."""
    instance = x.SCContractInstance(
        executable=x.ContractExecutable(
            x.ContractExecutableType.CONTRACT_EXECUTABLE_WASM, wasm_hash=x.Hash(ESCROW_WASM_HASH)
        ),
        storage=scval.to_map(storage).map if storage else None,
    )
    return contract_data_entry(
        contract,
        x.SCVal(x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE),
        x.SCVal(x.SCValType.SCV_CONTRACT_INSTANCE, instance=instance),
    )


# --- transactions ------------------------------------------------------------------------


def soroban_data(
    read_only: list[x.LedgerKey], read_write: list[x.LedgerKey], resource_fee: int
) -> x.SorobanTransactionData:
    """SorobanTransactionData: the footprint, fixed resource figures, the resource fee."""
    return x.SorobanTransactionData(
        ext=x.SorobanTransactionDataExt(0),
        resources=x.SorobanResources(
            footprint=x.LedgerFootprint(read_only=read_only, read_write=read_write),
            instructions=x.Uint32(2_000_000),
            disk_read_bytes=x.Uint32(4_096),
            write_bytes=x.Uint32(2_048),
        ),
        resource_fee=x.Int64(resource_fee),
    )


def transaction_result(fee_charged: int, *, success: bool, digest: bytes = b"\0" * 32) -> str:
    """A one-operation InvokeHostFunction TransactionResult (txSUCCESS or txFAILED/TRAPPED)."""
    if success:
        host_result = x.InvokeHostFunctionResult(
            x.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_SUCCESS, success=x.Hash(digest)
        )
    else:
        host_result = x.InvokeHostFunctionResult(
            x.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_TRAPPED
        )
    op_result = x.OperationResult(
        x.OperationResultCode.opINNER,
        tr=x.OperationResultTr(
            x.OperationType.INVOKE_HOST_FUNCTION, invoke_host_function_result=host_result
        ),
    )
    code = x.TransactionResultCode.txSUCCESS if success else x.TransactionResultCode.txFAILED
    result = x.TransactionResult(
        fee_charged=x.Int64(fee_charged),
        result=x.TransactionResultResult(code, results=[op_result]),
        ext=x.TransactionResultExt(0),
    )
    return result.to_xdr()


def rejected_result(code: x.TransactionResultCode, fee: int = 0) -> str:
    """The errorResultXdr of a transaction refused at submission (txBAD_SEQ, txBAD_AUTH, ...)."""
    return x.TransactionResult(
        fee_charged=x.Int64(fee),
        result=x.TransactionResultResult(code),
        ext=x.TransactionResultExt(0),
    ).to_xdr()


def transaction_meta(
    return_value: x.SCVal | None,
    events: list[x.ContractEvent],
    diagnostics: list[x.DiagnosticEvent],
) -> str:
    """TransactionMeta v4 (protocol 23): the return value and the operation's events."""
    meta = x.TransactionMetaV4(
        ext=x.ExtensionPoint(0),
        tx_changes_before=x.LedgerEntryChanges([]),
        operations=[
            x.OperationMetaV2(
                ext=x.ExtensionPoint(0), changes=x.LedgerEntryChanges([]), events=events
            )
        ],
        tx_changes_after=x.LedgerEntryChanges([]),
        soroban_meta=x.SorobanTransactionMetaV2(
            ext=x.SorobanTransactionMetaExt(0), return_value=return_value
        ),
        events=[],
        diagnostic_events=diagnostics,
    )
    return x.TransactionMeta(4, v4=meta).to_xdr()


def ledger_hash(sequence: int) -> bytes:
    return hashlib.sha256(f"soroban-peer-ledger-{sequence}".encode()).digest()


def ledger_header(sequence: int, close_time: int) -> x.LedgerHeader:
    """A LedgerHeader for `sequence`: plausible constants, hashes derived from the sequence."""
    return x.LedgerHeader(
        ledger_version=x.Uint32(PROTOCOL_VERSION),
        previous_ledger_hash=x.Hash(ledger_hash(sequence - 1)),
        scp_value=x.StellarValue(
            tx_set_hash=x.Hash(hashlib.sha256(b"txset%d" % sequence).digest()),
            close_time=x.TimePoint(x.Uint64(close_time)),
            upgrades=[],
            ext=x.StellarValueExt(x.StellarValueType.STELLAR_VALUE_BASIC),
        ),
        tx_set_result_hash=x.Hash(hashlib.sha256(b"txres%d" % sequence).digest()),
        bucket_list_hash=x.Hash(hashlib.sha256(b"bucket%d" % sequence).digest()),
        ledger_seq=x.Uint32(sequence),
        total_coins=x.Int64(1_000_000_000_000_000_000),
        fee_pool=x.Int64(0),
        inflation_seq=x.Uint32(0),
        id_pool=x.Uint64(0),
        base_fee=x.Uint32(100),
        base_reserve=x.Uint32(5_000_000),
        max_tx_set_size=x.Uint32(100),
        skip_list=[x.Hash(b"\0" * 32)] * 4,
        ext=x.LedgerHeaderExt(0),
    )


def ledger_close_meta(sequence: int, close_time: int) -> str:
    """LedgerCloseMeta v2 of a ledger, without its transactions (the peer does not keep them)."""
    meta = x.LedgerCloseMetaV2(
        ext=x.LedgerCloseMetaExt(0),
        ledger_header=x.LedgerHeaderHistoryEntry(
            hash=x.Hash(ledger_hash(sequence)),
            header=ledger_header(sequence, close_time),
            ext=x.LedgerHeaderHistoryEntryExt(0),
        ),
        tx_set=x.GeneralizedTransactionSet(
            1, v1_tx_set=x.TransactionSetV1(x.Hash(ledger_hash(sequence - 1)), phases=[])
        ),
        tx_processing=[],
        upgrades_processing=[],
        scp_info=[],
        total_byte_size_of_live_soroban_state=x.Uint64(0),
        evicted_keys=[],
    )
    return x.LedgerCloseMeta(2, v2=meta).to_xdr()


def iso_time(close_time: int) -> str:
    return datetime.fromtimestamp(close_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
