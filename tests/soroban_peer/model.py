"""The peer's world state: ledger clock, classic accounts, token balances, escrow instances.

Plain Python values only (no XDR): addresses are strkeys (G... accounts, C... contracts),
amounts are ints in the token's smallest unit (10^7 per USDC), times are Unix seconds.
The escrow fields mirror `InvoiceEscrow` and the instance storage of spec §2.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from stellar_sdk import StrKey

STATUS_OPEN, STATUS_FUNDED, STATUS_SETTLED, STATUS_WITHDRAWN, STATUS_CANCELLED = range(5)
SCHEMA_VERSION = 6
DEFAULT_MATURITY_HORIZON = 157_680_000  # seconds, spec §4.1 init
STARTING_XLM = 10_000 * 10_000_000  # stroops credited to an account the peer creates


class ContractError(Exception):
    """The escrow (or token) contract failed with `Error(Contract, #code)` (spec §5)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"Error(Contract, #{code})")
        self.code = code


class HostError(Exception):
    """A host-level failure, e.g. `Error(Auth, InvalidAction)` or `Error(Value, UnexpectedType)`."""

    def __init__(self, kind: str, code: str, detail: str = "") -> None:
        super().__init__(f"Error({kind}, {code})" + (f": {detail}" if detail else ""))
        self.kind = kind
        self.code = code


def new_contract_address() -> str:
    return StrKey.encode_contract(os.urandom(32))


@dataclass
class Snapshot:
    """`FundingCloseSnapshot`, written once when funding closes."""

    total_principal: int
    funding_target: int
    closed_at_ledger_timestamp: int
    closed_at_ledger_sequence: int


@dataclass
class Escrow:
    """One escrow instance (one per invoice). `initialized` is False between deploy and init."""

    address: str
    initialized: bool = False
    invoice_id: str = ""
    admin: str = ""
    sme_address: str = ""
    amount: int = 0
    funding_target: int = 0
    funded_amount: int = 0
    yield_bps: int = 0
    maturity: int = 0
    status: int = STATUS_OPEN
    funding_token: str = ""
    treasury: str = ""
    registry: str | None = None
    legal_hold: bool = False
    paused: bool = False
    min_contribution: int = 0
    max_unique_investors: int | None = None
    max_per_investor: int | None = None
    funding_deadline: int | None = None
    maturity_max_horizon: int = DEFAULT_MATURITY_HORIZON
    allowlist_active: bool = False
    allowlisted: set[str] = field(default_factory=set)
    protocol_fee_bps: int = 0
    contributions: dict[str, int] = field(default_factory=dict)
    investors: list[str] = field(default_factory=list)
    unique_funder_count: int = 0
    refunded: set[str] = field(default_factory=set)
    snapshot: Snapshot | None = None
    settled_at: int | None = None
    distributed_principal: int = 0

    def to_json(self) -> dict[str, object]:
        """The state as JSON-able values (for the control API and test assertions)."""
        data = {k: v for k, v in self.__dict__.items() if k not in {"allowlisted", "refunded"}}
        data["allowlisted"] = sorted(self.allowlisted)
        data["refunded"] = sorted(self.refunded)
        data["snapshot"] = None if self.snapshot is None else dict(self.snapshot.__dict__)
        data["contributions"] = dict(self.contributions)
        data["investors"] = list(self.investors)
        return data


@dataclass
class Chain:
    """Everything a contract call can read or write, plus the ledger clock.

    `sequence` is the last closed ledger; `close_time` its Unix close time, which follows the
    wall clock plus `offset` (the seconds tests fast-forwarded) and grows by at least 1 s per
    ledger. Account sequence numbers follow stellar-core: a new account starts at
    `ledger << 32`.
    """

    sequence: int
    close_time: int
    offset: int = 0
    accounts: dict[str, int] = field(default_factory=dict)
    xlm: dict[str, int] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    escrows: dict[str, Escrow] = field(default_factory=dict)

    def close_ledger(self, fast_forward: int = 0) -> int:
        """Close the next ledger, `fast_forward` seconds further than the clock alone would."""
        self.offset += fast_forward
        self.sequence += 1
        self.close_time = max(self.close_time + 1, int(time.time()) + self.offset)
        return self.sequence

    def create_account(self, account: str, xlm: int = STARTING_XLM) -> int:
        StrKey.decode_ed25519_public_key(account)  # raises on a malformed G... key
        self.accounts.setdefault(account, self.sequence << 32)
        self.xlm.setdefault(account, xlm)
        return self.accounts[account]

    def balance(self, token: str, holder: str) -> int:
        return self.balances.get((token, holder), 0)

    def move(self, token: str, source: str, destination: str, amount: int) -> None:
        """Token transfer; an insufficient balance is the wrapper's error 37 (spec §5)."""
        if amount < 0:
            raise ContractError(36)
        if self.balance(token, source) < amount:
            raise ContractError(37)
        self.balances[(token, source)] = self.balance(token, source) - amount
        self.balances[(token, destination)] = self.balance(token, destination) + amount
