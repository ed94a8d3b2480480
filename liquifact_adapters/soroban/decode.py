"""ScVal to domain values: the escrow contract's answers (spec/escrow-contract.md §2, §6, §7).

Structs arrive as ScMaps keyed by field name, ``None`` as Void, amounts as I128, times as U64;
``stellar_sdk.scval.to_native`` does the leaf conversions, this module fixes the shapes we rely
on and turns addresses into their strkey text.
"""

from __future__ import annotations

from typing import Any

from stellar_sdk import Address, scval
from stellar_sdk import xdr as stellar_xdr

from liquifact_core.chain import ContractEvent
from liquifact_core.escrow import EscrowReading, InvoiceEscrow

_ESCROW_FIELDS = (
    "invoice_id",
    "admin",
    "sme_address",
    "amount",
    "funding_target",
    "funded_amount",
    "yield_bps",
    "maturity",
    "status",
)


class NotAnEscrow(ValueError):
    """The value does not have the shape the escrow contract gives (another contract)."""


def native(value: stellar_xdr.SCVal | str) -> Any:
    """A ScVal (or its base64 XDR) as Python values: symbols and strings ``str``, integers
    ``int``, addresses their strkey ``str``, vectors ``list``, maps ``dict``, Void ``None``,
    bytes ``bytes``, booleans ``bool``."""
    return _plain(scval.to_native(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Address):
        return value.address
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_hashable(_plain(key)): _plain(item) for key, item in value.items()}
    return value


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def invoice_escrow(value: Any) -> InvoiceEscrow:
    """``InvoiceEscrow`` from its native form (a dict keyed by field name). Raises
    ``NotAnEscrow`` for any other shape or a field outside the contract's types."""
    if not isinstance(value, dict) or set(value) != set(_ESCROW_FIELDS):
        raise NotAnEscrow("not an InvoiceEscrow struct")
    if not isinstance(value["invoice_id"], str) or isinstance(value["status"], bool):
        raise NotAnEscrow("unexpected field type")
    try:
        return InvoiceEscrow(**{name: value[name] for name in _ESCROW_FIELDS})
    except (TypeError, ValueError) as error:
        raise NotAnEscrow(str(error)) from error


def escrow_reading(summary: stellar_xdr.SCVal, paused: stellar_xdr.SCVal) -> EscrowReading:
    """One reading from ``get_escrow_summary()`` (``EscrowSummary``: its ``escrow`` and
    ``legal_hold``) and ``is_paused()`` (bool). Raises ``NotAnEscrow``."""
    try:
        fields = native(summary)
        paused_flag = native(paused)
    except Exception as error:  # an undecodable value is no escrow answer
        raise NotAnEscrow("undecodable value") from error
    if not isinstance(fields, dict) or "escrow" not in fields:
        raise NotAnEscrow("not an EscrowSummary struct")
    legal_hold = fields.get("legal_hold")
    if not isinstance(legal_hold, bool) or not isinstance(paused_flag, bool):
        raise NotAnEscrow("flags are not booleans")
    return EscrowReading(
        invoice_escrow(fields["escrow"]), legal_hold=legal_hold, paused=paused_flag
    )


def contract_event(
    *,
    event_id: str,
    contract: str,
    ledger: int,
    topics: list[str],
    value: str,
    tx_hash: str,
) -> ContractEvent:
    """A ``ContractEvent`` from ``getEvents``' fields (topics and value as base64 XDR)."""
    return ContractEvent(
        event_id=event_id,
        contract=contract,
        ledger=ledger,
        topics=tuple(native(topic) for topic in topics),
        value=native(value),
        tx_hash=tx_hash,
    )
