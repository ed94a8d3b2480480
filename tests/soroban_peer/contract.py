"""The escrow contract's functions (spec §4) and a minimal SEP-41 token, run against `Chain`.

`invoke(chain, contract, function, args)` decodes the ScVal arguments by the function's
signature, runs it and returns an `Outcome`: the return ScVal, the contract events it emitted
(spec §6 layout: topic[0] struct name, topic[1] short name, then `#[topic]` fields; data an
ScMap), the `require_auth` calls it made (with nested invocations, e.g. `fund`'s
`token.transfer`) and the footprint it touched. It raises `ContractError(code)` (spec §5) or
`HostError`. It mutates `chain`: callers run simulations on a copy.

Not modelled: yield tiers and `fund_with_commitment`, attestations, collateral, admin hand-over,
the two-phase legal-hold clear, TTLs. Init error codes 6-9 are assigned as: 6 min_contribution
<= 0, 7 min_contribution > amount, 8 max_unique_investors == 0, 9 max_per_investor <= 0 (the
spec names the range only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stellar_sdk import Address, scval
from stellar_sdk import xdr as x

from tests.soroban_peer import codec
from tests.soroban_peer.codec import addr, option, struct, sym
from tests.soroban_peer.model import (
    SCHEMA_VERSION,
    STATUS_CANCELLED,
    STATUS_FUNDED,
    STATUS_OPEN,
    STATUS_SETTLED,
    STATUS_WITHDRAWN,
    Chain,
    ContractError,
    Escrow,
    HostError,
    Snapshot,
)

I128_MAX = 2**127 - 1
INVOICE_ID = re.compile(r"[A-Za-z0-9_]+")


@dataclass
class AuthNeed:
    """One `require_auth(address)`: the invocation tree the address must authorise."""

    address: str
    invocation: x.SorobanAuthorizedInvocation


@dataclass
class Outcome:
    value: x.SCVal
    events: list[x.ContractEvent] = field(default_factory=list)
    auth: list[AuthNeed] = field(default_factory=list)
    read_only: list[x.LedgerKey] = field(default_factory=list)
    read_write: list[x.LedgerKey] = field(default_factory=list)


def _invocation(
    contract: str, function: str, args: list[x.SCVal], subs: list[x.SorobanAuthorizedInvocation]
) -> x.SorobanAuthorizedInvocation:
    return x.SorobanAuthorizedInvocation(
        function=x.SorobanAuthorizedFunction(
            x.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
            contract_fn=x.InvokeContractArgs(
                contract_address=Address(contract).to_xdr_sc_address(),
                function_name=x.SCSymbol(function.encode()),
                args=args,
            ),
        ),
        sub_invocations=subs,
    )


class Env:
    """The host as seen by one top-level call: auth recording, events, footprint."""

    def __init__(self, chain: Chain, contract: str, function: str, args: list[x.SCVal]) -> None:
        self.chain = chain
        self.contract = contract
        self.function = function
        self.args = args
        self.outcome = Outcome(value=scval.to_void(), read_only=[codec.instance_key(contract)])

    @property
    def now(self) -> int:
        return self.chain.close_time

    def require_auth(
        self, address: str, subs: Sequence[x.SorobanAuthorizedInvocation] = ()
    ) -> None:
        """Record `address.require_auth()` for this call, with its nested invocations."""
        invocation = _invocation(self.contract, self.function, self.args, list(subs))
        self.outcome.auth.append(AuthNeed(address, invocation))

    def emit(self, contract: str, topics: list[x.SCVal], data: x.SCVal) -> None:
        self.outcome.events.append(codec.contract_event(contract, topics, data))

    def write(self, contract: str, key: x.SCVal) -> None:
        ledger_key = codec.contract_data_key(contract, key)
        if all(k.to_xdr() != ledger_key.to_xdr() for k in self.outcome.read_write):
            self.outcome.read_write.append(ledger_key)

    def transfer(self, token: str, source: str, destination: str, amount: int) -> None:
        """A nested SEP-41 `transfer`: moves the balance and emits the token's event."""
        self.chain.move(token, source, destination, amount)
        self.outcome.read_only.append(codec.instance_key(token))
        for holder in (source, destination):
            self.write(token, codec.data_key("Balance", addr(holder)))
        self.emit(
            token,
            [sym("transfer"), addr(source), addr(destination)],
            scval.to_int128(amount),
        )

    def escrow_event(
        self, escrow: Escrow, struct_name: str, name: str, *extra: x.SCVal, **data: x.SCVal
    ) -> None:
        """A `#[contractevent]` of the escrow (spec §6)."""
        self.emit(escrow.address, [sym(struct_name), sym(name), *extra], struct(**data))


# --- argument decoding -------------------------------------------------------------------

Decoder = Callable[[x.SCVal], Any]
DECODERS: dict[str, Decoder] = {
    "address": lambda v: scval.from_address(v).address,
    "string": lambda v: scval.from_string(v).decode(),
    "i128": scval.from_int128,
    "i64": scval.from_int64,
    "u64": scval.from_uint64,
    "u32": scval.from_uint32,
    "bool": scval.from_bool,
    "any": lambda v: v,
}


def _decode(kind: str, value: x.SCVal) -> Any:
    if kind.endswith("?"):
        if value.type == x.SCValType.SCV_VOID:
            return None
        kind = kind[:-1]
    try:
        return DECODERS[kind](value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise HostError("Value", "UnexpectedType", f"expected {kind}") from exc


Handler = Callable[..., x.SCVal]
ESCROW: dict[str, tuple[tuple[str, ...], Handler]] = {}
TOKEN: dict[str, tuple[tuple[str, ...], Handler]] = {}


def entry(
    table: dict[str, tuple[tuple[str, ...], Handler]], name: str, *kinds: str
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        table[name] = (kinds, handler)
        return handler

    return register


def invoke(chain: Chain, contract: str, function: str, args: list[x.SCVal]) -> Outcome:
    """Run `function(args)` on `contract` against `chain` (mutating it)."""
    if contract in chain.escrows:
        table, target = ESCROW, chain.escrows[contract]
    elif contract in chain.tokens:
        table, target = TOKEN, None
    else:
        raise HostError("Storage", "MissingValue", f"no contract instance {contract}")
    if function not in table:
        raise HostError("WasmVm", "MissingValue", f"no function {function}")
    kinds, handler = table[function]
    if len(kinds) != len(args):
        raise HostError("WasmVm", "InvalidAction", f"{function} takes {len(kinds)} arguments")
    values = [_decode(kind, arg) for kind, arg in zip(kinds, args, strict=True)]
    env = Env(chain, contract, function, args)
    if isinstance(target, Escrow):
        if function != "init" and not target.initialized:
            raise ContractError(20)
        env.outcome.value = handler(env, target, *values)
    else:
        env.outcome.value = handler(env, *values)
    return env.outcome


# --- encodings -----------------------------------------------------------------------------


def escrow_val(e: Escrow) -> x.SCVal:
    """`InvoiceEscrow` (spec §2)."""
    return struct(
        invoice_id=sym(e.invoice_id),
        admin=addr(e.admin),
        sme_address=addr(e.sme_address),
        amount=scval.to_int128(e.amount),
        funding_target=scval.to_int128(e.funding_target),
        funded_amount=scval.to_int128(e.funded_amount),
        yield_bps=scval.to_int64(e.yield_bps),
        maturity=scval.to_uint64(e.maturity),
        status=scval.to_uint32(e.status),
    )


def snapshot_val(s: Snapshot) -> x.SCVal:
    return struct(
        total_principal=scval.to_int128(s.total_principal),
        funding_target=scval.to_int128(s.funding_target),
        closed_at_ledger_timestamp=scval.to_uint64(s.closed_at_ledger_timestamp),
        closed_at_ledger_sequence=scval.to_uint32(s.closed_at_ledger_sequence),
    )


def instance_storage(e: Escrow) -> dict[x.SCVal, x.SCVal]:
    """The instance storage entries a ledger-entry read shows (spec §2; not exhaustive)."""
    if not e.initialized:
        return {}
    return {
        codec.data_key("Escrow"): escrow_val(e),
        codec.data_key("LegalHold"): scval.to_bool(e.legal_hold),
        codec.data_key("Paused"): scval.to_bool(e.paused),
        codec.data_key("FundingToken"): addr(e.funding_token),
        codec.data_key("Treasury"): addr(e.treasury),
        codec.data_key("UniqueFunderCount"): scval.to_uint32(e.unique_funder_count),
    }


def contribution_key(investor: str) -> x.SCVal:
    return codec.data_key("InvestorContribution", addr(investor))


def _close_funding(env: Env, e: Escrow) -> None:
    e.status = STATUS_FUNDED
    if e.snapshot is None:
        e.snapshot = Snapshot(e.funded_amount, e.funding_target, env.now, env.chain.sequence)


def settlement_pool(e: Escrow) -> int:
    principal = e.snapshot.total_principal if e.snapshot else e.funded_amount
    return principal + principal * e.yield_bps // 10_000


# --- escrow writes -------------------------------------------------------------------------


# init's 18 parameters (spec §4.1); "?" marks an Option (Void is None).
_INIT_KINDS = (
    "address string address i128 i64 u64 address address? address any? i128? u32? i128? u64?"
    " u64? u64? bool? i64?"
)
INIT_SIGNATURE = tuple(_INIT_KINDS.split())


@entry(ESCROW, "init", *INIT_SIGNATURE)
def _init(
    env: Env,
    e: Escrow,
    admin: str,
    invoice_id: str,
    sme: str,
    amount: int,
    yield_bps: int,
    maturity: int,
    token: str,
    registry: str | None,
    treasury: str,
    _tiers: object,
    min_contribution: int | None,
    max_unique: int | None,
    max_per_investor: int | None,
    _hold_delay: int | None,
    horizon: int | None,
    deadline: int | None,
    allowlist_active: bool | None,
    fee_bps: int | None,
) -> x.SCVal:
    env.require_auth(admin)
    if amount <= 0:
        raise ContractError(1)
    if amount > 2**63 - 1:
        raise ContractError(14)
    if not 0 <= yield_bps <= 10_000:
        raise ContractError(2)
    if fee_bps is not None and not 0 <= fee_bps <= 10_000:
        raise ContractError(215)
    if e.initialized:
        raise ContractError(3)
    horizon = e.maturity_max_horizon if horizon is None else horizon
    if maturity and maturity < env.now:
        raise ContractError(166)
    if maturity and maturity > env.now + horizon:
        raise ContractError(167)
    if min_contribution is not None and min_contribution <= 0:
        raise ContractError(6)
    if min_contribution is not None and min_contribution > amount:
        raise ContractError(7)
    if max_unique is not None and max_unique == 0:
        raise ContractError(8)
    if max_per_investor is not None and max_per_investor <= 0:
        raise ContractError(9)
    if deadline is not None and deadline <= env.now:
        raise ContractError(164)
    if deadline is not None and maturity and deadline >= maturity:
        raise ContractError(204)
    if not 1 <= len(invoice_id) <= 32:
        raise ContractError(4)
    if not INVOICE_ID.fullmatch(invoice_id):
        raise ContractError(5)
    e.initialized, e.admin, e.invoice_id, e.sme_address = True, admin, invoice_id, sme
    e.amount = e.funding_target = amount
    e.yield_bps, e.maturity, e.funding_token, e.registry, e.treasury = (
        yield_bps,
        maturity,
        token,
        registry,
        treasury,
    )
    e.min_contribution = min_contribution or 0
    e.max_unique_investors, e.max_per_investor, e.funding_deadline = (
        max_unique,
        max_per_investor,
        deadline,
    )
    e.maturity_max_horizon = horizon
    e.allowlist_active = bool(allowlist_active)
    e.protocol_fee_bps = fee_bps or 0
    env.emit(
        e.address,
        [sym("escrow_initialized"), sym("escrow_ii")],
        struct(
            escrow=escrow_val(e),
            funding_token=addr(token),
            treasury=addr(treasury),
            registry=option(registry, addr),
            has_maturity_lock=scval.to_bool(maturity > 0),
        ),
    )
    return escrow_val(e)


@entry(ESCROW, "fund", "address", "i128")
def _fund(env: Env, e: Escrow, investor: str, amount: int) -> x.SCVal:
    transfer_args = [addr(investor), addr(e.address), scval.to_int128(amount)]
    env.require_auth(investor, [_invocation(e.funding_token, "transfer", transfer_args, [])])
    if amount <= 0:
        raise ContractError(100)
    if amount < e.min_contribution:
        raise ContractError(101)
    if e.paused:
        raise ContractError(210)
    if e.legal_hold:
        raise ContractError(102)
    if e.status != STATUS_OPEN:
        raise ContractError(103)
    if e.funding_deadline is not None and env.now >= e.funding_deadline:
        raise ContractError(164)
    if e.allowlist_active and investor not in e.allowlisted:
        raise ContractError(104)
    prior = e.contributions.get(investor, 0)
    if e.funded_amount + amount > I128_MAX:
        raise ContractError(105)
    if e.max_per_investor is not None and prior + amount > e.max_per_investor:
        raise ContractError(106)
    is_new = investor not in e.contributions
    if (
        is_new
        and e.max_unique_investors is not None
        and (e.unique_funder_count >= e.max_unique_investors)
    ):
        raise ContractError(107)
    env.transfer(e.funding_token, investor, e.address, amount)
    e.contributions[investor] = prior + amount
    env.write(e.address, contribution_key(investor))
    if is_new:
        e.unique_funder_count += 1
        e.investors.append(investor)
    e.funded_amount += amount
    if e.funded_amount >= e.funding_target:
        _close_funding(env, e)
    env.escrow_event(
        e,
        "escrow_funded",
        "funded",
        sym(e.invoice_id),
        addr(investor),
        amount=scval.to_int128(amount),
        funded_amount=scval.to_int128(e.funded_amount),
        status=scval.to_uint32(e.status),
        investor_effective_yield_bps=scval.to_int64(e.yield_bps),
        tier_lock_secs=scval.to_uint64(0),
    )
    return escrow_val(e)


@entry(ESCROW, "unfund", "address", "i128")
def _unfund(env: Env, e: Escrow, investor: str, amount: int) -> x.SCVal:
    env.require_auth(investor)
    if e.status != STATUS_OPEN:
        raise ContractError(220)
    if e.legal_hold:
        raise ContractError(222)
    contribution = e.contributions.get(investor, 0)
    if amount <= 0 or amount > contribution:
        raise ContractError(221)
    env.transfer(e.funding_token, e.address, investor, amount)
    e.contributions[investor] = contribution - amount
    env.write(e.address, contribution_key(investor))
    e.funded_amount -= amount
    env.escrow_event(
        e,
        "escrow_unfunded",
        "unfunded",
        sym(e.invoice_id),
        addr(investor),
        amount=scval.to_int128(amount),
        remaining_contribution=scval.to_int128(e.contributions[investor]),
        new_funded_amount=scval.to_int128(e.funded_amount),
        timestamp=scval.to_uint64(env.now),
    )
    return escrow_val(e)


@entry(ESCROW, "partial_settle", "address")
def _partial_settle(env: Env, e: Escrow, caller: str) -> x.SCVal:
    env.require_auth(caller)
    if e.legal_hold:
        raise ContractError(201)
    if caller not in (e.sme_address, e.admin):
        raise ContractError(200)
    if e.status != STATUS_OPEN:
        raise ContractError(202)
    _close_funding(env, e)
    env.escrow_event(
        e,
        "escrow_partial_settle",
        "part_set",
        sym(e.invoice_id),
        funded_amount=scval.to_int128(e.funded_amount),
    )
    return escrow_val(e)


@entry(ESCROW, "settle")
def _settle(env: Env, e: Escrow) -> x.SCVal:
    env.require_auth(e.sme_address)
    if e.paused:
        raise ContractError(211)
    if e.legal_hold:
        raise ContractError(120)
    if e.status != STATUS_FUNDED:
        raise ContractError(121)
    if e.maturity and env.now < e.maturity:
        raise ContractError(122)
    e.status, e.settled_at = STATUS_SETTLED, env.now
    env.escrow_event(
        e,
        "escrow_settled",
        "escrow_sd",
        sym(e.invoice_id),
        funded_amount=scval.to_int128(e.funded_amount),
        yield_bps=scval.to_int64(e.yield_bps),
        maturity=scval.to_uint64(e.maturity),
        settled_at_ledger_timestamp=scval.to_uint64(env.now),
        settle_pool=scval.to_int128(settlement_pool(e)),
    )
    return escrow_val(e)


@entry(ESCROW, "withdraw")
def _withdraw(env: Env, e: Escrow) -> x.SCVal:
    env.require_auth(e.sme_address)
    if e.paused:
        raise ContractError(212)
    if e.legal_hold:
        raise ContractError(123)
    if e.status != STATUS_FUNDED:
        raise ContractError(124)
    if env.chain.balance(e.funding_token, e.address) < e.funded_amount:
        raise ContractError(165)
    fee = e.funded_amount * e.protocol_fee_bps // 10_000
    net = e.funded_amount - fee
    if fee:
        env.transfer(e.funding_token, e.address, e.treasury, fee)
    env.transfer(e.funding_token, e.address, e.sme_address, net)
    e.distributed_principal += e.funded_amount
    e.status = STATUS_WITHDRAWN
    env.escrow_event(
        e,
        "sme_withdrew",
        "sme_wd",
        sym(e.invoice_id),
        amount=scval.to_int128(net),
        recipient=addr(e.sme_address),
        fee=scval.to_int128(fee),
    )
    return escrow_val(e)


@entry(ESCROW, "cancel_funding")
def _cancel_funding(env: Env, e: Escrow) -> x.SCVal:
    env.require_auth(e.admin)
    if e.legal_hold:
        raise ContractError(140)
    if e.status != STATUS_OPEN:
        raise ContractError(141)
    e.status = STATUS_CANCELLED
    env.escrow_event(
        e,
        "funding_cancelled",
        "fund_can",
        sym(e.invoice_id),
        funded_amount=scval.to_int128(e.funded_amount),
    )
    return escrow_val(e)


@entry(ESCROW, "refund", "address")
def _refund(env: Env, e: Escrow, investor: str) -> x.SCVal:
    env.require_auth(investor)
    if e.status != STATUS_CANCELLED:
        raise ContractError(142)
    amount = e.contributions.get(investor, 0)
    if amount <= 0 or investor in e.refunded:
        raise ContractError(143)
    env.transfer(e.funding_token, e.address, investor, amount)
    e.refunded.add(investor)
    env.escrow_event(
        e,
        "investor_refunded_evt",
        "refunded",
        addr(investor),
        sym(e.invoice_id),
        amount=scval.to_int128(amount),
    )
    return scval.to_void()


@entry(ESCROW, "update_funding_target", "i128")
def _update_funding_target(env: Env, e: Escrow, new_target: int) -> x.SCVal:
    env.require_auth(e.admin)
    if e.status != STATUS_OPEN:
        raise ContractError(72)
    if new_target <= 0:
        raise ContractError(73)
    if new_target < e.funded_amount:
        raise ContractError(74)
    old, e.funding_target = e.funding_target, new_target
    if e.funded_amount >= new_target:
        _close_funding(env, e)
    env.escrow_event(
        e,
        "funding_target_updated",
        "fund_tgt",
        sym(e.invoice_id),
        old_target=scval.to_int128(old),
        new_target=scval.to_int128(new_target),
    )
    return escrow_val(e)


def set_legal_hold(env: Env, e: Escrow, active: bool) -> x.SCVal:
    e.legal_hold = active
    env.escrow_event(
        e, "legal_hold_changed", "legalhld", sym(e.invoice_id), active=scval.to_uint32(int(active))
    )
    return scval.to_void()


@entry(ESCROW, "set_legal_hold", "bool")
def _set_legal_hold(env: Env, e: Escrow, active: bool) -> x.SCVal:
    env.require_auth(e.admin)
    return set_legal_hold(env, e, active)


@entry(ESCROW, "clear_legal_hold")
def _clear_legal_hold(env: Env, e: Escrow) -> x.SCVal:
    env.require_auth(e.admin)
    return set_legal_hold(env, e, False)


@entry(ESCROW, "set_paused", "bool")
def _set_paused(env: Env, e: Escrow, active: bool) -> x.SCVal:
    env.require_auth(e.admin)
    e.paused = active
    env.escrow_event(
        e, "paused_changed", "paused", sym(e.invoice_id), active=scval.to_uint32(int(active))
    )
    return scval.to_void()


# --- escrow views ----------------------------------------------------------------------------


def _view(name: str, *kinds: str) -> Callable[[Callable[..., x.SCVal]], Handler]:
    return entry(ESCROW, name, *kinds)


_view("get_escrow")(lambda env, e: escrow_val(e))
_view("get_remaining_funding_capacity")(
    lambda env, e: scval.to_int128(max(e.funding_target - e.funded_amount, 0))
)
_view("get_contribution", "address")(lambda env, e, a: scval.to_int128(e.contributions.get(a, 0)))
_view("get_legal_hold")(lambda env, e: scval.to_bool(e.legal_hold))
_view("is_paused")(lambda env, e: scval.to_bool(e.paused))
_view("get_unique_funder_count")(lambda env, e: scval.to_uint32(e.unique_funder_count))
_view("get_version")(lambda env, e: scval.to_uint32(SCHEMA_VERSION))
_view("get_funding_token")(lambda env, e: addr(e.funding_token))
_view("get_treasury")(lambda env, e: addr(e.treasury))
_view("get_min_contribution_floor")(lambda env, e: scval.to_int128(e.min_contribution))
_view("get_max_per_investor_cap")(lambda env, e: option(e.max_per_investor, scval.to_int128))
_view("get_max_unique_investors_cap")(
    lambda env, e: option(e.max_unique_investors, scval.to_uint32)
)
_view("get_funding_deadline")(lambda env, e: option(e.funding_deadline, scval.to_uint64))
_view("get_settled_at")(lambda env, e: option(e.settled_at, scval.to_uint64))
_view("get_funding_close_snapshot")(lambda env, e: option(e.snapshot, snapshot_val))
_view("get_settlement_pool")(lambda env, e: scval.to_int128(settlement_pool(e)))
_view("get_token_balance")(
    lambda env, e: scval.to_int128(env.chain.balance(e.funding_token, e.address))
)
_view("get_distributed_principal")(lambda env, e: scval.to_int128(e.distributed_principal))
_view("get_protocol_fee_bps")(lambda env, e: scval.to_int64(e.protocol_fee_bps))
_view("is_allowlist_active")(lambda env, e: scval.to_bool(e.allowlist_active))


@_view("get_contributions", "any")
def _get_contributions(env: Env, e: Escrow, investors: x.SCVal) -> x.SCVal:
    addresses = [_decode("address", v) for v in scval.from_vec(investors)]
    if len(addresses) > 50:
        raise ContractError(203)
    return scval.to_vec([scval.to_int128(e.contributions.get(a, 0)) for a in addresses])


@_view("get_investors", "u32", "u32")
def _get_investors(env: Env, e: Escrow, start: int, limit: int) -> x.SCVal:
    return scval.to_vec([addr(a) for a in e.investors[start : start + min(limit, 50)]])


@_view("get_escrow_summary")
def _summary(env: Env, e: Escrow) -> x.SCVal:
    """`EscrowSummary` (spec §2); attestation and collateral are not modelled (none/0)."""
    return struct(
        escrow=escrow_val(e),
        has_maturity_lock=scval.to_bool(e.maturity > 0),
        legal_hold=scval.to_bool(e.legal_hold),
        funding_close_snapshot=codec.option_enum(
            None if e.snapshot is None else snapshot_val(e.snapshot)
        ),
        unique_funder_count=scval.to_uint32(e.unique_funder_count),
        is_allowlist_active=scval.to_bool(e.allowlist_active),
        schema_version=scval.to_uint32(SCHEMA_VERSION),
        sme_collateral_commitment=codec.option_enum(None),
        has_primary_attestation=scval.to_bool(False),
        attestation_log_length=scval.to_uint32(0),
    )


@_view("get_settlement_readiness")
def _readiness(env: Env, e: Escrow) -> x.SCVal:
    maturity_reached = e.maturity == 0 or env.now >= e.maturity
    settleable = e.status == STATUS_FUNDED and not e.legal_hold and maturity_reached
    return struct(
        is_settleable=scval.to_bool(settleable),
        legal_hold_active=scval.to_bool(e.legal_hold),
        maturity_reached=scval.to_bool(maturity_reached),
        ready_now=scval.to_bool(settleable),
    )


# --- the SEP-41 token (balances only) -----------------------------------------------------------

entry(TOKEN, "balance", "address")(
    lambda env, holder: scval.to_int128(env.chain.balance(env.contract, holder))
)
entry(TOKEN, "decimals")(lambda env: scval.to_uint32(7))
entry(TOKEN, "symbol")(lambda env: scval.to_string("USDC"))


@entry(TOKEN, "transfer", "address", "address", "i128")
def _token_transfer(env: Env, source: str, destination: str, amount: int) -> x.SCVal:
    env.require_auth(source)
    env.transfer(env.contract, source, destination, amount)
    return scval.to_void()


__all__ = ["AuthNeed", "Env", "Outcome", "escrow_val", "invoke"]
