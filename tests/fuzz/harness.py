"""The API fuzz stage: schemathesis over every operation of the served ``/openapi.json``.

Requests go in process to the ASGI app (schemathesis' ASGI transport, no socket), on a store
seeded with an invoice in every state, a linked escrow and a commitment, so operations have
something to hit. For each operation two generators run:

- **coverage**: schemathesis' deterministic boundary values for every documented constraint
  (lengths, ranges, patterns, enums, required fields, wrong types), positive and negative, sent
  by the role that operation is for (investor for ``/invest...``, admin otherwise);
- **fuzzing**: Hypothesis-generated requests, positive and negative, once per role (admin, SME,
  investor with a bound wallet). ``derandomize=True``: the same requests on every run.

Every request carries a bearer token of its role and the tenant header pinned to the seeded
tenant. A positive case that names an invoice (path ``id`` / ``invoiceId``) is pointed at a
seeded invoice in the state the operation needs, a freshly made one when the operation changes
state, so the request reaches the code behind validation instead of a 404; negative cases keep
their own identifier unless only another part of them is invalid.

Each response goes through every check of ``ALL_CHECKS`` separately; a failure becomes a
``Finding``. Nothing here asserts: the tests decide which findings fail the gate.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CHECKS, CheckFunction, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.applications import Starlette
from starlette.testclient import TestClient
from stellar_sdk.strkey import StrKey

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import token
from tests.factories import account_address, contract_address, invoice_payload
from tests.http.openapi_validation import refused_only_for_inexpressible

# The document's two StrKey formats (docs/architecture.md), generated valid with their checksum
# so that positive cases reach the code behind validation; the patterns bound the rest.
schemathesis.openapi.format(
    "stellar-account", st.binary(min_size=32, max_size=32).map(StrKey.encode_ed25519_public_key)
)
schemathesis.openapi.format(
    "soroban-contract", st.binary(min_size=32, max_size=32).map(StrKey.encode_contract)
)

# Invoice documents take a file's bytes as the raw body, typed by its own media type:
# schemathesis sends bytes for these as it does for application/octet-stream.
schemathesis.serializer.alias(["application/pdf", "image/tiff"], "application/octet-stream")

STRKEY_LENGTH = 56  # a G... account or C... contract address
ROLES = ("admin", "sme", "investor")
SUBJECTS = {"admin": "fuzz-admin", "sme": "fuzz-sme", "investor": "fuzz-investor"}
# Checks that hold today on every operation: any finding fails the gate.
STRICT_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# "No schema-valid request rejected, no schema-violating request accepted" (issue 8's goal).
DOCUMENT_CHECKS = ("positive_data_acceptance", "negative_data_rejection")
ALL_CHECKS = STRICT_CHECKS + DOCUMENT_CHECKS

# What counts as accepting a valid request / rejecting an invalid one. 412 is a well-formed
# If-Match meeting a stale ETag: a state conflict like 409 for a valid request, and a fair
# answer to an invalid body too, since RFC 9110 section 13.2.1 evaluates preconditions before
# the content is processed (a malformed If-Match is 400, tested in tests/http). 5xx and 429
# never count as either.
SCHEMATHESIS_CONFIG: dict[str, Any] = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "412"]
        },
        "negative_data_rejection": {
            "expected-statuses": [
                "400",
                "401",
                "403",
                "404",
                "405",
                "406",
                "409",
                "412",
                "413",
                "415",
            ]
        },
    },
}

FUNDING_TARGET = "100000000000000000"  # stroops: room for every generated commitment
CHAIN = Actor("fuzz-indexer", Role.CHAIN)

# Operations that change an invoice's state get a fresh invoice in this state per positive
# case (keyed by method and path without the /v1 or /api prefix).
FRESH_TARGETS: Mapping[tuple[str, str], str] = {
    ("DELETE", "/invoices/{id}"): "pending",
    ("POST", "/invoices/{id}/approve"): "pending",
    ("POST", "/invoices/{id}/reject"): "pending",
    ("POST", "/invoices/{id}/cancel"): "approved",
    ("POST", "/invoices/{id}/link-escrow"): "approved",
    ("POST", "/invoices/{id}/default"): "disbursed",
}
# The rest use a seeded invoice: this state, or every state in turn (reads).
SHARED_TARGETS: Mapping[tuple[str, str], str] = {
    ("PATCH", "/invoices/{id}"): "pending",
    ("GET", "/investor/locks/{invoiceId}"): "linked_escrow",
}
SEEDED_STATES = (
    "pending",
    "approved",
    "rejected",
    "cancelled",
    "linked_escrow",
    "partially_funded",
    "funded",
    "disbursed",
    "settled",
    "defaulted",
)


@attrs.frozen
class Budget:
    """How many Hypothesis examples per (operation, role, mode), and whether the coverage
    (boundary value) generator runs."""

    examples: int
    coverage: bool = True
    alias_coverage: bool = False  # /api operations run the same handlers as /v1


@attrs.frozen
class Finding:
    """One failed check on one response."""

    store: str
    operation: str  # "POST /v1/invoices"
    role: str
    phase: str  # "coverage" or "fuzzing"
    mode: str  # "positive" or "negative"
    check: str
    status: int
    request: str
    response: str
    message: str

    def render(self) -> str:
        return (
            f"[{self.store}] {self.operation} as {self.role} ({self.phase}, {self.mode}): "
            f"{self.check} -> {self.status}\n  request: {self.request}\n"
            f"  response: {self.response}\n  {self.message.strip().replace(chr(10), ' | ')}"
        )


def document_operations() -> list[str]:
    """Every operation label ("GET /v1/invoices") of the document the app serves."""
    from liquifact_adapters.memory import InMemoryStore
    from tests.auth_helpers import test_settings

    with TestClient(create_app(test_settings(), store=InMemoryStore())) as client:
        document = client.get("/openapi.json").json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    ]


def unprefixed(path: str) -> str:
    for prefix in ("/v1", "/api"):
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


def coverage_role(path: str) -> str:
    """The role an operation is for: boundary values sent by a role it refuses test only 403."""
    return "investor" if unprefixed(path).startswith("/invest") else "admin"


class FuzzTarget:
    """One app on one store, seeded, with the findings of each operation fuzzed so far."""

    def __init__(self, store_name: str, app: Starlette, tenant: str, budget: Budget) -> None:
        self.store_name = store_name
        self.app = app
        self.tenant = tenant
        self.budget = budget
        self.wallet = account_address()
        self.headers = {role: self._auth(role) for role in ROLES}
        self.client = asgi.get_client(app)  # type: ignore[arg-type]  # an ASGI app all the same
        self.client.__enter__()  # starts the app's lifespan once; schemathesis reuses it
        self.seeded = self._seed()
        self.schema: OpenApiSchema = schemathesis.openapi.from_asgi(
            "/openapi.json", app, config=schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
        )
        load_all_checks()
        self.checks: dict[str, CheckFunction] = {
            name: check
            for name, check in zip(ALL_CHECKS, CHECKS.get_by_names(list(ALL_CHECKS)), strict=True)
            if callable(check) and not isinstance(check, type)
        }
        assert list(self.checks) == list(ALL_CHECKS)
        self._results: dict[str, list[Finding]] = {}
        self._turn = itertools.count()

    # ---- credentials and data ---------------------------------------------------------
    def _auth(self, role: str) -> dict[str, str]:
        wallet = self.wallet if role == "investor" else None
        signed = token(role, self.tenant, SUBJECTS[role], wallet=wallet, ttl=4 * 3600)
        return {"Authorization": f"Bearer {signed}", "X-Tenant-Id": self.tenant}

    def _post(self, path: str, body: Mapping[str, Any], role: str, **headers: str) -> Any:
        response = self.client.post(path, json=body, headers={**self.headers[role], **headers})
        assert response.status_code in (200, 201), f"seeding {path}: {response.text}"
        return response.json()

    def invoice(self, state: str) -> str:
        """A new invoice of the SME, moved to ``state`` (the chain's steps through services:
        no route stands in for the escrow indexer)."""
        invoice_id: str = self._post("/v1/invoices", invoice_payload(), "sme")["id"]
        if state == "pending":
            return invoice_id
        base = f"/v1/invoices/{invoice_id}"
        if state in ("rejected", "cancelled"):
            action = "reject" if state == "rejected" else "cancel"
            self._post(f"{base}/{action}", {"reason": "Seeded for the fuzz stage"}, "admin")
            return invoice_id
        self._post(f"{base}/approve", {}, "admin")
        if state == "approved":
            return invoice_id
        link = {"escrowAddress": contract_address(), "fundingTargetStroops": FUNDING_TARGET}
        self._post(f"{base}/link-escrow", link, "admin")
        services = self.app.state.services.invoices
        if state == "partially_funded":
            services.record_chain_funding(self.tenant, CHAIN, invoice_id, 5_000_000_000)
        chain_path = {
            "funded": ("funded",),
            "disbursed": ("funded", "disbursed"),
            "settled": ("funded", "disbursed", "settled"),
            "defaulted": ("funded", "disbursed"),
        }.get(state, ())
        for step in chain_path:
            services.transition(self.tenant, CHAIN, invoice_id, InvoiceStatus(step))
        if state == "defaulted":
            self._post(f"{base}/default", {"reason": "Seeded for the fuzz stage"}, "admin")
        return invoice_id

    def _seed(self) -> dict[str, str]:
        seeded = {state: self.invoice(state) for state in SEEDED_STATES}
        commitment = {
            "invoiceId": seeded["linked_escrow"],
            "investorAddress": self.wallet,
            "amountStroops": "5000000000",
        }
        self._post(
            "/v1/invest/fund-invoice", commitment, "investor", **{"Idempotency-Key": "fuzz-seed-01"}
        )
        return seeded

    # ---- running ----------------------------------------------------------------------
    def findings(self, label: str) -> list[Finding]:
        """The findings of one operation, fuzzed on first use (the strict and the document
        tests share one run)."""
        if label not in self._results:
            self._results[label] = self._fuzz(label)
        return self._results[label]

    def _fuzz(self, label: str) -> list[Finding]:
        method, path = label.split(" ", 1)
        operation = self.schema[path][method]
        found: list[Finding] = []
        alias = path == "/api" or path.startswith("/api/")
        if self.budget.coverage and (self.budget.alias_coverage or not alias):
            role = coverage_role(path)
            cases = self.schema.iter_coverage_cases(
                operation,
                generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                generation_config=self.schema.config.generation_for(operation=operation),
            )
            for case in cases:
                self._send(case, role=role, found=found, phase="coverage")
        # Header-only operations get their negative cases from the coverage phase above (each
        # header pattern broken, deterministically): random header mutations are nearly all
        # unsendable and filtered out, which cost seconds per operation and found nothing.
        violable = operation.path_parameters or operation.query or operation.body
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for role in ROLES:
            for mode in modes if violable else modes[:1]:
                strategy = operation.as_strategy(
                    generation_mode=mode, headers=dict(self.headers[role])
                )
                self._run_examples(strategy, functools.partial(self._send, role=role, found=found))
        return found

    def _run_examples(self, strategy: Any, send: Callable[[Case[Any]], None]) -> None:
        @settings(
            max_examples=self.budget.examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Case[Any]) -> None:
            send(case)

        run()

    def _send(
        self, case: Case[Any], *, role: str, found: list[Finding], phase: str = "fuzzing"
    ) -> None:
        mode = case.meta.generation.mode if case.meta is not None else GenerationMode.POSITIVE
        negated = _negated(case)
        pinned = {
            name: value
            for name, value in self.headers[role].items()
            if (ParameterLocation.HEADER, name.lower()) not in negated
        }
        headers = case.headers if case.headers is not None else {}
        headers.update(pinned)
        case.headers = headers
        self._aim(case, mode, negated)
        response = case.call()
        for name, check in self.checks.items():
            if name == "positive_data_acceptance" and _documented_refusal(response, case.body):
                continue
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup as group:
                found += [
                    self._finding(case, response, role, phase, mode, name, failure)
                    for failure in group.exceptions
                ]
            except Failure as failure:
                found.append(self._finding(case, response, role, phase, mode, name, failure))

    def _aim(
        self, case: Case[Any], mode: GenerationMode, negated: set[tuple[ParameterLocation, str]]
    ) -> None:
        """Point a case that names an invoice at a seeded (or fresh) one, see the module doc."""
        if any(location is ParameterLocation.PATH for location, _ in negated):
            return
        key = (case.method.upper(), unprefixed(case.path))
        parameters = case.path_parameters or {}
        name = next((n for n in ("id", "invoiceId") if n in parameters), None)
        if name is not None:
            if key in FRESH_TARGETS and mode is GenerationMode.POSITIVE:
                parameters[name] = self.invoice(FRESH_TARGETS[key])
            elif key in FRESH_TARGETS or key in SHARED_TARGETS:
                state = FRESH_TARGETS.get(key) or SHARED_TARGETS[key]
                parameters[name] = self.seeded[state]
            else:
                turn = next(self._turn)
                parameters[name] = self.seeded[SEEDED_STATES[turn % len(SEEDED_STATES)]]
        self._checksum(case, negated)
        body = case.body
        if (
            key == ("POST", "/invest/fund-invoice")
            and mode is GenerationMode.POSITIVE
            and isinstance(body, dict)
            and not any(location is ParameterLocation.BODY for location, _ in negated)
            and next(self._turn) % 2 == 0  # the other half keeps its generated values
        ):
            body["invoiceId"] = self.seeded["linked_escrow"]
            body["investorAddress"] = self.wallet

    def _checksum(self, case: Case[Any], negated: set[tuple[ParameterLocation, str]]) -> None:
        """Schemathesis' boundary-value (coverage) generator reads an address's pattern but
        not its format, so a positive case may carry ``G222...``: valid by the pattern, not by
        ``stellar-account``. Such a value is swapped for a real address (the investor's own
        wallet, so the case is not a 403 instead) in every part the case did not make invalid
        on purpose (a negative case may differ only in an extra header)."""
        for location, values in (
            (ParameterLocation.QUERY, case.query),
            (ParameterLocation.BODY, case.body),
            (ParameterLocation.PATH, case.path_parameters),  # /v1/admin/wallets/{address}
        ):
            if not isinstance(values, dict) or any(loc is location for loc, _ in negated):
                continue
            for name, value in values.items():
                if not isinstance(value, str) or len(value) != STRKEY_LENGTH:
                    continue
                if value[0] == "G" and not StrKey.is_valid_ed25519_public_key(value):
                    values[name] = self.wallet
                elif value[0] == "C" and not StrKey.is_valid_contract(value):
                    values[name] = contract_address()

    def _finding(
        self,
        case: Case[Any],
        response: Any,
        role: str,
        phase: str,
        mode: GenerationMode,
        check: str,
        failure: Failure,
    ) -> Finding:
        sent = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        request = f"{case.method.upper()} {response.request.url} headers={sent}"
        if case.body is not None and not _is_unset(case.body):
            request += f" body={_short(repr(case.body))}"
        return Finding(
            store=self.store_name,
            operation=f"{case.method.upper()} {case.path}",
            role=role,
            phase=phase,
            mode=mode.value,
            check=check,
            status=response.status_code,
            request=request,
            response=_short(response.text, 1500),
            message=f"{failure.title}: {failure.message}",
        )

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def _negated(case: Case[Any]) -> set[tuple[ParameterLocation, str]]:
    """The (location, lower-cased parameter name) pairs a negative case made invalid; the name
    is "" when the whole location was (a body of the wrong type, a missing part). The harness
    never overwrites these, so a negative case stays negative."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return set()
    data = meta.phase.data
    parts = {
        (mutation.parameter_location, (mutation.parameter or "").lower())
        for mutation in data.mutations
    }
    if data.parameter_location is not None:
        parts.add((data.parameter_location, (data.parameter or "").lower()))
    parts |= {
        (location, "")
        for location, component in meta.components.items()
        if component.mode.is_negative and not any(loc is location for loc, _ in parts)
    }
    return parts


def _documented_refusal(response: Any, body: Any) -> bool:
    """A schema-valid request refused only for rules the document states in words, since JSON
    Schema cannot (cross-field and principal-dependent rules, signed cursors, refused
    characters outside the BMP; listed in docs/architecture.md): the API and the document
    agree on it."""
    try:
        problem = response.json()
    except ValueError:
        return False
    return refused_only_for_inexpressible(
        response.status_code, problem, body if isinstance(body, dict) else None
    )


def _is_unset(value: object) -> bool:
    return type(value).__name__ == "NotSet"


def _short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def budget_from_env(default: Budget) -> Budget:
    """``FUZZ_EXAMPLES`` (tests only) raises or lowers the Hypothesis examples for a long
    local run, e.g. ``make fuzz FUZZ_EXAMPLES=200``."""
    raw = os.environ.get("FUZZ_EXAMPLES")
    return attrs.evolve(default, examples=int(raw)) if raw else default


def strict(findings: Sequence[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.check in STRICT_CHECKS]


def document(findings: Sequence[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.check in DOCUMENT_CHECKS]


def report(findings: Sequence[Finding], limit: int = 12) -> str:
    """The first ``limit`` findings, one distinct (check, role, phase, mode) each first."""
    seen: set[tuple[str, str, str, str, str]] = set()
    firsts: list[Finding] = []
    for finding in findings:
        key = (finding.operation, finding.check, finding.role, finding.phase, finding.mode)
        if key not in seen:
            seen.add(key)
            firsts.append(finding)
    shown = firsts[:limit]
    lines = [f"{len(findings)} finding(s); first of each kind:"]
    lines += [finding.render() for finding in shown]
    return "\n".join(lines)
