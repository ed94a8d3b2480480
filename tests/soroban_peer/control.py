"""Test control of the peer: set up accounts and escrows, bend state, inject faults.

Every operation is a function of JSON-able parameters, reachable in process
(`PeerControl(LocalTransport(...))`) or over HTTP as `POST /_control` with
`{"op": name, ...params}` answered `{"result": ...}` (400 `{"error": ...}` on a bad request).
Amounts are ints in the token's smallest unit; times are Unix seconds.

Faults (`fail`), consumed in the order added, each by the next `count` matching JSON-RPC calls:
- `timeout`: hold the answer `hold_seconds` (default 30) before writing it, or until
  `release_held` (or the peer's stop); with `process` (default true) the request is applied
  first, so a held `sendTransaction` still lands; without it nothing is applied and the
  connection closes with no answer.
- `http_503`: answer HTTP 503 with a non-JSON body.
- `contract_error`: `simulateTransaction` fails with `Error(Contract, #code)`;
  `sendTransaction` is accepted (PENDING) and lands FAILED with that error.
- `drop`: `sendTransaction` answers PENDING but the transaction never lands.
- `lag`: `getTransaction` answers NOT_FOUND whatever happened, as an RPC that has not yet
  ingested the ledger the transaction landed in.
`methods` narrows a fault to some JSON-RPC methods (default: every method for timeout and
http_503, simulate+send for contract_error, send for drop). `pending_faults` lists the faults
not yet used up: a fault is taken when its call arrives, so once a held `timeout` is gone
from the list its caller is waiting for the answer (a test may then kill the caller).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from stellar_sdk import Keypair, scval
from stellar_sdk import xdr as x

from tests.soroban_peer.model import Escrow, Snapshot, new_contract_address
from tests.soroban_peer.rpc import Peer

DEFAULT_METHODS = {
    "timeout": None,
    "http_503": None,
    "contract_error": frozenset({"simulateTransaction", "sendTransaction"}),
    "drop": frozenset({"sendTransaction"}),
    "lag": frozenset({"getTransaction"}),
}


class ControlError(ValueError):
    """A control request that cannot be honoured (unknown op, bad parameter)."""


@dataclass
class Fault:
    kind: str
    remaining: int
    methods: frozenset[str] | None
    hold_seconds: float = 30.0
    code: int = 0
    process: bool = True
    # What a held answer waits for besides its time (set by `release_held` or the stop).
    release: threading.Event = field(default_factory=threading.Event)


class Faults:
    """The queue of injected faults (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._release = threading.Event()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str) -> Fault | None:
        """The first fault that applies to `method`, counted as used once; its `release` is
        the event that ends this call's hold early."""
        with self._lock:
            for rule in self._rules:
                if rule.methods is None or method in rule.methods:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return replace(rule, release=self._release)
        return None

    def release_held(self) -> None:
        """Answer every call held so far now; later holds wait again."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()

    def stop(self) -> None:
        """Answer every held call now, and hold none from now on."""
        with self._lock:
            self._release.set()


def _opt(value: Any, encode: Callable[[Any], x.SCVal]) -> x.SCVal:
    return scval.to_void() if value is None else encode(value)


def _escrow(peer: Peer, params: dict[str, Any]) -> Escrow:
    address = params.get("address")
    if address not in peer.chain.escrows:
        raise ControlError(f"no escrow at {address!r}")
    return peer.chain.escrows[address]


def create_account(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    sequence = peer.chain.create_account(p["account"], int(p.get("xlm", 10_000 * 10**7)))
    return {"account": p["account"], "sequence": sequence}


def create_token(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    address = p.get("address") or new_contract_address()
    peer.chain.tokens.add(address)
    return {"address": address}


def mint(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    token, holder, amount = p["token"], p["holder"], int(p["amount"])
    if token not in peer.chain.tokens:
        raise ControlError(f"no token at {token!r}")
    peer.chain.balances[(token, holder)] = peer.chain.balance(token, holder) + amount
    return {"balance": peer.chain.balance(token, holder)}


def deploy(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    """An escrow instance awaiting `init` (views fail with error 20 until then)."""
    address = p.get("address") or new_contract_address()
    peer.chain.escrows[address] = Escrow(address=address)
    return {"address": address}


def create_escrow(peer: Peer, faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    """Deploy and `init` an escrow (the init rules apply; `escrow_ii` is emitted in a ledger).

    Required: invoice_id, sme, amount. Optional: admin (a new key, whose secret is returned
    as admin_secret), token (a new token), treasury (the admin), funding_target (set after
    init, as the admin could), yield_bps, maturity, registry, min_contribution,
    max_unique_investors, max_per_investor, funding_deadline, allowlist_active,
    protocol_fee_bps, address.
    """
    result: dict[str, Any] = {}
    admin = p.get("admin")
    if admin is None:
        keypair = Keypair.random()
        admin, result["admin_secret"] = keypair.public_key, keypair.secret
    token = p.get("token") or create_token(peer, faults, {})["address"]
    peer.chain.tokens.add(token)
    address = deploy(peer, faults, {"address": p.get("address")})["address"]
    args = [
        scval.to_address(admin),
        scval.to_string(p["invoice_id"]),
        scval.to_address(p["sme"]),
        scval.to_int128(int(p["amount"])),
        scval.to_int64(int(p.get("yield_bps", 0))),
        scval.to_uint64(int(p.get("maturity", 0))),
        scval.to_address(token),
        _opt(p.get("registry"), scval.to_address),
        scval.to_address(p.get("treasury") or admin),
        scval.to_void(),
        _opt(p.get("min_contribution"), scval.to_int128),
        _opt(p.get("max_unique_investors"), scval.to_uint32),
        _opt(p.get("max_per_investor"), scval.to_int128),
        scval.to_void(),
        scval.to_void(),
        _opt(p.get("funding_deadline"), scval.to_uint64),
        _opt(p.get("allowlist_active"), scval.to_bool),
        _opt(p.get("protocol_fee_bps"), scval.to_int64),
    ]
    try:
        peer.system_call(address, "init", args)
    except Exception:
        del peer.chain.escrows[address]
        raise
    escrow = peer.chain.escrows[address]
    if p.get("funding_target") is not None:
        escrow.funding_target = int(p["funding_target"])
    return {**result, **escrow.to_json()}


SETTABLE = {name for name in Escrow.__dataclass_fields__ if name not in {"address", "snapshot"}}


def set_fields(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    """Overwrite escrow fields directly, with no event (e.g. diverge funded_amount)."""
    escrow = _escrow(peer, p)
    fields = p.get("fields") or {}
    unknown = set(fields) - SETTABLE
    if unknown:
        raise ControlError(f"unknown escrow fields {sorted(unknown)}")
    for name, value in fields.items():
        setattr(escrow, name, set(value) if name in {"allowlisted", "refunded"} else value)
    if fields.get("status", 0) != 0 and escrow.snapshot is None:
        escrow.snapshot = Snapshot(
            escrow.funded_amount,
            escrow.funding_target,
            peer.chain.close_time,
            peer.chain.sequence,
        )
    return escrow.to_json()


def set_legal_hold(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    """Set or clear the hold as the admin would (emits `legalhld` in a new ledger)."""
    escrow = _escrow(peer, p)
    peer.system_call(escrow.address, "set_legal_hold", [scval.to_bool(bool(p["active"]))])
    return escrow.to_json()


def advance_ledgers(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    """Close `count` empty ledgers, fast-forwarding the clock `seconds_per_ledger` each."""
    for _ in range(int(p.get("count", 1))):
        peer.chain.close_ledger(fast_forward=int(p.get("seconds_per_ledger", 5)))
    return ledger(peer, _faults, p)


def ledger(peer: Peer, _faults: Faults, _p: dict[str, Any]) -> dict[str, Any]:
    return {"sequence": peer.chain.sequence, "close_time": peer.chain.close_time}


def escrow_state(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    return _escrow(peer, p).to_json()


def balance(peer: Peer, _faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    return {"balance": peer.chain.balance(p["token"], p["holder"])}


def fail(_peer: Peer, faults: Faults, p: dict[str, Any]) -> dict[str, Any]:
    kind = p.get("kind")
    if kind not in DEFAULT_METHODS:
        raise ControlError(f"unknown fault kind {kind!r}")
    if kind == "contract_error" and not p.get("code"):
        raise ControlError("contract_error needs a code")
    methods = p.get("methods")
    fault = Fault(
        kind=kind,
        remaining=int(p.get("count", 1)),
        methods=frozenset(methods) if methods else DEFAULT_METHODS[kind],
        hold_seconds=float(p.get("hold_seconds", 30.0)),
        code=int(p.get("code", 0)),
        process=bool(p.get("process", True)),
    )
    faults.add(fault)
    return {"kind": kind, "count": fault.remaining}


def clear_faults(_peer: Peer, faults: Faults, _p: dict[str, Any]) -> dict[str, Any]:
    faults.clear()
    return {}


def release_held(_peer: Peer, faults: Faults, _p: dict[str, Any]) -> dict[str, Any]:
    """Write the answers of the calls `timeout` faults hold now (later ones are held again)."""
    faults.release_held()
    return {}


def pending_faults(_peer: Peer, faults: Faults, _p: dict[str, Any]) -> dict[str, Any]:
    """The faults not used up yet, in order: kind, remaining calls, methods (None: any)."""
    return {
        "faults": [
            {
                "kind": fault.kind,
                "remaining": fault.remaining,
                "methods": None if fault.methods is None else sorted(fault.methods),
            }
            for fault in faults.pending()
        ]
    }


OPERATIONS: dict[str, Callable[[Peer, Faults, dict[str, Any]], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        create_account,
        create_token,
        mint,
        deploy,
        create_escrow,
        set_fields,
        set_legal_hold,
        advance_ledgers,
        ledger,
        escrow_state,
        balance,
        fail,
        clear_faults,
        release_held,
        pending_faults,
    )
}


def run(peer: Peer, faults: Faults, op: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one control operation under the peer's lock; `ControlError` for bad requests."""
    if op not in OPERATIONS:
        raise ControlError(f"unknown control op {op!r}")
    with peer.lock:
        try:
            return OPERATIONS[op](peer, faults, params)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ControlError):
                raise
            raise ControlError(f"{op}: {type(exc).__name__}: {exc}") from exc


class Transport(Protocol):
    def __call__(self, op: str, params: dict[str, Any]) -> dict[str, Any]: ...


class LocalTransport:
    def __init__(self, peer: Peer, faults: Faults) -> None:
        self.peer, self.faults = peer, faults

    def __call__(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        return run(self.peer, self.faults, op, params)


class HttpTransport:
    """`POST {url}/_control` (for a peer in another process)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url, self.timeout = url.rstrip("/") + "/_control", timeout

    def __call__(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"op": op, **params}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.load(response)["result"]
                return answer
        except urllib.error.HTTPError as exc:
            raise ControlError(json.load(exc).get("error", str(exc))) from exc


class PeerControl:
    """Typed helpers over a transport; each returns the operation's JSON result."""

    def __init__(self, transport: Transport) -> None:
        self._call = transport

    def create_account(self, account: str, xlm: int = 10_000 * 10**7) -> int:
        """Create a classic account (or keep it); returns its sequence number."""
        return int(self._call("create_account", {"account": account, "xlm": xlm})["sequence"])

    def create_token(self, address: str | None = None) -> str:
        return str(self._call("create_token", {"address": address})["address"])

    def mint(self, token: str, holder: str, amount: int) -> int:
        return int(
            self._call("mint", {"token": token, "holder": holder, "amount": amount})["balance"]
        )

    def balance(self, token: str, holder: str) -> int:
        return int(self._call("balance", {"token": token, "holder": holder})["balance"])

    def create_escrow(
        self, invoice_id: str, sme: str, amount: int, **options: Any
    ) -> dict[str, Any]:
        """See `create_escrow`; the result holds `address`, `funding_token`, `admin`, ..."""
        return self._call(
            "create_escrow", {"invoice_id": invoice_id, "sme": sme, "amount": amount, **options}
        )

    def deploy(self, address: str | None = None) -> str:
        return str(self._call("deploy", {"address": address})["address"])

    def escrow(self, address: str) -> dict[str, Any]:
        return self._call("escrow_state", {"address": address})

    def set_fields(self, address: str, **fields: Any) -> dict[str, Any]:
        return self._call("set_fields", {"address": address, "fields": fields})

    def set_legal_hold(self, address: str, active: bool) -> dict[str, Any]:
        return self._call("set_legal_hold", {"address": address, "active": active})

    def advance_ledgers(self, count: int = 1, seconds_per_ledger: int = 5) -> dict[str, Any]:
        return self._call(
            "advance_ledgers", {"count": count, "seconds_per_ledger": seconds_per_ledger}
        )

    def ledger(self) -> dict[str, Any]:
        return self._call("ledger", {})

    def fail(self, kind: str, count: int = 1, **options: Any) -> dict[str, Any]:
        """Inject a fault (module doc): timeout, http_503, contract_error (code=), drop, lag."""
        return self._call("fail", {"kind": kind, "count": count, **options})

    def clear_faults(self) -> None:
        self._call("clear_faults", {})

    def release_held(self) -> None:
        """Let the calls held by `timeout` faults have their answers now."""
        self._call("release_held", {})

    def pending_faults(self) -> list[dict[str, Any]]:
        """The injected faults not used up yet (a taken fault's call has arrived)."""
        return list(self._call("pending_faults", {})["faults"])
