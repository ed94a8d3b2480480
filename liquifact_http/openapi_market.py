"""The OpenAPI entries of the marketplace, funding, investor-commitment, investor-lock and
SME-metrics routes.

Built with the helpers of ``liquifact_http.openapi``, which merges these into the document.
"""

from __future__ import annotations

from collections.abc import Mapping

from liquifact_core.commitments import (
    COMMITMENT_CODES,
    CommitmentsQuery,
    FundingRequest,
    LockQuery,
    LocksQuery,
)
from liquifact_core.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN
from liquifact_core.marketplace import (
    MarketplaceSearch,
    OpportunitiesQuery,
)
from liquifact_core.profiles import ProfileUpdate
from liquifact_core.submissions import SignedSubmission
from liquifact_http import pages, sme_metrics
from liquifact_http import representations as rep
from liquifact_http.openapi import (
    JSON,
    Component,
    Object,
    _json_response,
    _operation,
    _problem_response,
    _schema,
    response,
)
from liquifact_http.routes.profiles import PROFILE_PATH


def _errors(meanings: Mapping[int, str]) -> Object:
    """Problem responses with route-specific meanings (500 always included)."""
    result = {
        str(status): _problem_response(status, meaning) for status, meaning in meanings.items()
    }
    result["500"] = _problem_response(500)
    return dict(sorted(result.items()))


# ---- schemas --------------------------------------------------------------------------------
def components() -> dict[str, Component]:
    """The object schemas of these routes, with the classes they are generated from."""
    return {
        **response(
            rep.MarketItemBody,
            "An investable invoice as investors browse it (no buyer contact or tax data).",
        ),
        **response(pages.MarketPageBody, "One page of investable invoices."),
        "FundInvoiceBody": Component(FundingRequest, "A funding intent."),
        "SignedTransactionBody": Component(
            SignedSubmission,
            "The prepared funding transaction as the investor's wallet signed it.",
        ),
        **response(rep.CommitmentBody, "A recorded investor commitment."),
        **response(
            pages.CommitmentPageBody,
            "Investor commitments one by one, newest first, each with its status.",
        ),
        **response(rep.LockBody, "An investor lock."),
        **response(pages.LockPageBody, "Investor locks, by invoice id then funder address."),
        **response(rep.ProfileBody, "An SME's display name and country."),
        "SmeProfileUpdate": Component(
            ProfileUpdate,
            "The whole profile of the calling SME (it replaces any earlier one). "
            "country is an ISO 3166-1 alpha-2 code in upper case (INVALID_COUNTRY).",
        ),
        **response(
            sme_metrics.SmeMetricsBody,
            "Invoice counts and amounts per status: the SME's own, or the tenant's for operators.",
        ),
    }


# ---- parameters and headers -----------------------------------------------------------------
def _query(name: str, schema: Object, description: str) -> Object:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def parameters() -> Object:
    return {
        "LockInvoiceId": {
            "name": "invoiceId",
            "in": "path",
            "required": True,
            "schema": _schema("InvoiceId"),
        },
        "CommitmentId": {
            "name": "commitmentId",
            "in": "path",
            "required": True,
            "description": "A commitment's id (`FundingIntent.id`).",
            "schema": {"type": "string", "pattern": "^cmt_[A-Za-z0-9]{1,40}$"},
        },
        "IdempotencyKey": {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": True,
            "description": "8-128 of [A-Za-z0-9._:-]; one key per distinct funding request. "
            "The same key and body replay the first response (Idempotent-Replayed: true) for "
            "IDEMPOTENCY_KEY_TTL_HOURS.",
            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        },
    }


def headers() -> Object:
    return {
        "IdempotentReplayed": {
            "description": "`true` when this is the stored response of an earlier request with "
            "the same Idempotency-Key and body.",
            "required": False,
            "schema": {"type": "string", "enum": ["true"]},
        },
        "LockLocation": {
            "description": "The investor lock this commitment belongs to.",
            "required": True,
            "schema": {"type": "string", "pattern": "^/v1/investor/locks/inv_[A-Za-z0-9_]{1,28}$"},
        },
    }


# ---- paths ----------------------------------------------------------------------------------
_MARKET_NOTES = {
    "yieldBpsMin": "Lowest yield, in basis points (inclusive).",
    "yieldBpsMax": "Highest yield, in basis points (inclusive).",
    "maturityDateFrom": "Earliest maturity (inclusive).",
    "maturityDateTo": "Latest maturity (inclusive).",
    "fundedRatioMin": "Lowest funded percent (inclusive).",
    "fundedRatioMax": "Highest funded percent (inclusive).",
    "amountMin": "Smallest amount (inclusive), compared as a number whatever the currency.",
    "amountMax": "Largest amount (inclusive).",
    "currency": "Only invoices in this currency (ISO 4217).",
    "status": "Only these statuses (investable ones only: linked_escrow, partially_funded; "
    "any other value is 400).",
    "q": "1-100 characters once trimmed: invoices whose buyer name or issuer display name "
    "contains it, ignoring case and accents (`Societe` finds `Société`, `MULLER` finds "
    "`Müller`); `%` and `_` are plain characters.",
    "sortBy": "Sort key; ties are broken by invoice id in the same direction.",
    "order": "Sort direction; must stay the same across the pages of a cursor.",
    "cursor": "nextCursor of the previous page. Repeat the same sortBy, order and filters; "
    "`page` is ignored when a cursor is present.",
    "page": "Offset mode: 1-based page number.",
    "limit": "Invoices per page.",
}
_LOCK_NOTES = {
    "funderAddress": "A funder's Stellar account (checksummed G... address; else 400). "
    "Investors may name only their own bound wallet (else 403), which is also the default.",
    "page": "1-based page number.",
    "limit": "Locks per page.",
}
_BAD_QUERY = (
    "A query parameter is invalid or unknown, the X-Tenant-Id header is missing or invalid, "
    "or the cursor was altered (INVALID_CURSOR) or belongs to another tenant, sort, order or "
    "filter set (CURSOR_MISMATCH)."
)
_STORE_DOWN = "The data store is unavailable; retry later with backoff."
_NO_QUERY = (
    "A query parameter was sent (none are accepted) or the X-Tenant-Id header is missing or "
    "invalid."
)


def _ok(description: str, schema: str, *extra_headers: str) -> Object:
    return {"200": _json_response(description, _schema(schema), *extra_headers)}


def paths() -> Object:
    codes = ", ".join(COMMITMENT_CODES[:-1])
    fund_responses: Object = {
        "201": {
            **_json_response(
                "The commitment, recorded (or the stored first response, replayed).",
                _schema("FundingIntent"),
            ),
        },
        **_errors(
            {
                400: f"Missing or invalid Idempotency-Key, or invalid fields: the problem `code` "
                f"is the first commitment rule broken ({codes}), else VALIDATION_ERROR.",
                403: "The caller is not an investor (FORBIDDEN), has no bound wallet "
                "(WALLET_NOT_BOUND), investorAddress is not that wallet (WALLET_MISMATCH), "
                "or, in custodial mode, the platform holds no key for it "
                "(WALLET_NOT_CUSTODIED).",
                404: "No invoice with this id in the tenant.",
                409: "INVOICE_NOT_INVESTABLE (not linked_escrow or partially_funded), "
                "FUNDING_EXCEEDS_CAPACITY (target - funded - pending commitments), "
                "FUNDING_TRANSACTION_DUPLICATE (retryable: another pending commitment of the "
                "wallet got the very same transaction, prepared in the same second), "
                "IDEMPOTENCY_KEY_REUSED (same key, other request) or "
                "IDEMPOTENCY_REQUEST_IN_PROGRESS (retryable: the first request is running).",
                413: "The request body is too large.",
                415: "The body is not sent as application/json.",
                422: "The escrow contract refused the funding on simulation (e.g. "
                "ESCROW_BELOW_MINIMUM, ESCROW_PER_INVESTOR_CAP), the address "
                "holds no escrow (ESCROW_NOT_RECOGNISED) or the investor's account does not "
                "exist on the network (INVESTOR_ACCOUNT_NOT_FOUND).",
                423: "The escrow is under a legal hold (ESCROW_LEGAL_HOLD) or paused "
                "(ESCROW_PAUSED).",
                503: "The data store or the escrow chain is unavailable; the key is released, "
                "retry with it.",
            }
        ),
    }
    fund_responses["201"]["headers"]["Location"] = {"$ref": "#/components/headers/LockLocation"}
    fund_responses["201"]["headers"]["Idempotent-Replayed"] = {
        "$ref": "#/components/headers/IdempotentReplayed"
    }
    for status in ("400", "403", "404", "409"):
        fund_responses[status]["headers"]["Idempotent-Replayed"] = {
            "$ref": "#/components/headers/IdempotentReplayed"
        }
    return {
        "/v1/marketplace": {
            "get": _operation(
                "searchMarketplace",
                "Search investable invoices",
                "Marketplace",
                {
                    **_ok("One page of investable invoices.", "MarketplacePage"),
                    **_errors({400: _BAD_QUERY, 503: _STORE_DOWN}),
                },
                description="The tenant's invoices in linked_escrow or partially_funded, each "
                "with its issuer (the SME's display name and country, or null). "
                "Cursor mode (recommended; stable under inserts and deletes): send no `page`, "
                "then pass each `meta.nextCursor` as `cursor`. Offset mode: `page` + `limit`; "
                "nextCursor and hasMore are returned too. Cached responses, when enabled, are "
                "keyed `marketplace:<tenantId>:<originalUrl>`.",
                parameters=("TenantId",),
                query=MarketplaceSearch,
                query_notes=_MARKET_NOTES,
            )
        },
        "/v1/invest/opportunities": {
            "get": _operation(
                "listInvestmentOpportunities",
                "Investment opportunities",
                "Marketplace",
                {
                    **_ok("Investable invoices, newest first.", "MarketplacePage"),
                    **_errors({400: "Invalid page or limit.", 503: _STORE_DOWN}),
                },
                description="Investable invoices with funded ratio, maturity, yield and "
                "remaining capacity, newest first.",
                parameters=("TenantId",),
                query=OpportunitiesQuery,
                query_notes={"page": "1-based page number.", "limit": "Invoices per page."},
            )
        },
        "/v1/invest/fund-invoice": {
            "post": _operation(
                "fundInvoice",
                "Record a funding intent",
                "Investing",
                fund_responses,
                description="Records an investor commitment against an invoice's escrow in "
                "the configured signing mode (ESCROW_SIGNING_MODE). `stubbed`: nothing is "
                "sent (`submission.status` `stubbed`). `delegated`: the escrow's "
                "`fund(investor, amount)` is prepared on the chain with the investor's account "
                "as source and returned unsigned in `submission.transactionXdr` "
                "(`requires_signature`); the wallet signs it and POSTs it to "
                "/v1/invest/commitments/{commitmentId}/submit before `submission.expiresAt`. "
                "`custodial`: the platform signs for the investor accounts it custodies and "
                "queues the submission (`submitted`). The chain's refusals come back as their "
                "codes (legal hold 423, escrow not open 409, caps and minimum 422). "
                "A commitment does not change the invoice's fundedStroops, but pending "
                "commitments count against the remaining capacity. Requires Idempotency-Key.",
                parameters=("TenantId", "IdempotencyKey"),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("FundInvoiceBody")}},
                },
            )
        },
        "/v1/invest/commitments/{commitmentId}/submit": {
            "post": _operation(
                "submitSignedFunding",
                "Submit a wallet-signed funding transaction",
                "Investing",
                {
                    "202": _json_response(
                        "Taken: the commitment with `submission.status` `submitted` (or as it "
                        "is, when this transaction was taken before, or when it expired but "
                        "the network had applied it: `confirmed` or `failed`, as the chain "
                        "has it). A job sends it and follows it to `confirmed` or `failed`.",
                        _schema("FundingIntent"),
                    ),
                    **_errors(
                        {
                            400: "signedTransactionXdr is missing or not base64.",
                            403: "The caller is not an investor with a bound wallet.",
                            404: "No commitment with this id of the caller's wallet.",
                            409: "COMMITMENT_NOT_AWAITING_SIGNATURE (not delegated, failed, "
                            "or released: e.g. its invoice was cancelled), or "
                            "TRANSACTION_EXPIRED (the network never saw it: the commitment was "
                            "released; fund again).",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            422: "SIGNED_TRANSACTION_UNREADABLE (not an envelope), "
                            "SIGNED_TRANSACTION_MISMATCH (not the prepared transaction: another "
                            "source, sequence, operation, contract, arguments, fee or time "
                            "bounds) or SIGNATURE_INVALID (not exactly one valid signature of "
                            "the investor's key).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Delegated signing mode: takes the transaction `fundInvoice` "
                "prepared, signed by the investor's wallet, checks it is that very transaction "
                "(same hash) with the investor's signature, and queues its submission. The "
                "request never talks to the chain; resending the same signed transaction is "
                "safe (same hash: the network applies it at most once).",
                parameters=("TenantId", "CommitmentId"),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("SignedTransactionBody")}},
                },
            )
        },
        "/v1/investor/commitments": {
            "get": _operation(
                "listInvestorCommitments",
                "Investor commitments",
                "Investing",
                {
                    **_ok(
                        "Commitments, newest first (createdAt, then id, descending).",
                        "FundingIntentList",
                    ),
                    **_errors(
                        {
                            400: "Invalid investorAddress (INVALID_INVESTOR_ADDRESS), "
                            "invoiceId, status, page or limit, or an unknown or repeated "
                            "parameter.",
                            403: "An investor named another wallet (WALLET_MISMATCH) or has "
                            "none bound (WALLET_NOT_BOUND); or the caller is neither investor "
                            "nor operator (FORBIDDEN, INSUFFICIENT_SCOPE).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Each recorded commitment (funding intent) with its status: "
                "`pending` (recorded, not yet seen on chain), `confirmed` (the chain reported "
                "the funding) or `released` (will not happen). Unlike /v1/investor/locks, "
                "commitments are not grouped and released ones are listed too. Investors see "
                "their bound wallet's; operators may read any investor's (or all). "
                "Offset paging: `meta.nextCursor` is always null.",
                parameters=("TenantId",),
                query=CommitmentsQuery,
                query_notes={
                    "investorAddress": "An investor's Stellar account (checksummed G... "
                    "address; else 400). Investors may name only their own bound wallet "
                    "(else 403), which is also the default; operators see every investor's "
                    "when it is left out.",
                    "invoiceId": "Only this invoice.",
                    "status": "Only commitments in these statuses.",
                    "page": "1-based page number.",
                    "limit": "Commitments per page.",
                },
            )
        },
        "/v1/investor/locks": {
            "get": _operation(
                "listInvestorLocks",
                "Investor locks",
                "Investing",
                {
                    **_ok("Locks, by invoice then funder.", "InvestorLockList"),
                    **_errors(
                        {
                            400: "Invalid funderAddress, invoiceId, page or limit.",
                            403: "An investor asked for another wallet's locks, or has none "
                            "bound; or the caller is neither investor nor operator.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Pending and confirmed commitments per (invoice, funder), from the "
                "store, with claimNotBefore and investorEffectiveYieldBps; `stale` is always "
                "true. Operators may read any funder (or all).",
                parameters=("TenantId",),
                query=LocksQuery,
                query_notes={**_LOCK_NOTES, "invoiceId": "Only this invoice."},
            )
        },
        "/v1/investor/locks/{invoiceId}": {
            "get": _operation(
                "getInvestorLock",
                "One investor lock",
                "Investing",
                {
                    **_ok("The funder's lock on the invoice.", "InvestorLock"),
                    **_errors(
                        {
                            400: "Invalid invoice id or funderAddress (operators must name one).",
                            403: "An investor asked for another wallet's lock, or has none bound.",
                            404: "The funder has no lock on this invoice.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId", "LockInvoiceId"),
                query=LockQuery,
                query_notes={
                    **_LOCK_NOTES,
                    "funderAddress": _LOCK_NOTES["funderAddress"]
                    + " Operators must give it (else 400 with field code REQUIRED).",
                },
            )
        },
        PROFILE_PATH: {
            "get": _operation(
                "getSmeProfile",
                "The calling SME's profile",
                "SME",
                {
                    **_ok("The profile.", "SmeProfile"),
                    **_errors(
                        {
                            400: _NO_QUERY,
                            403: "Only SMEs have a profile (their own).",
                            404: "The SME has no profile yet (PROFILE_NOT_FOUND).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="What investors see as the issuer of the SME's invoices in the "
                "marketplace.",
                parameters=("TenantId",),
            ),
            "put": _operation(
                "putSmeProfile",
                "Create or replace the calling SME's profile",
                "SME",
                {
                    "200": _json_response("The profile, replaced.", _schema("SmeProfile")),
                    "201": _json_response("The profile, created.", _schema("SmeProfile")),
                    **_errors(
                        {
                            400: "Invalid fields (displayName: 1-120 characters under the text "
                            "rules; country: ISO 3166-1 alpha-2, upper case), an unknown field "
                            f"or parameter. {_NO_QUERY}",
                            403: "Only SMEs have a profile (their own).",
                            413: "The request body is too large.",
                            415: "The body is not sent as application/json.",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                description="Audited as `sme_profile.created` or `sme_profile.updated`. The "
                "tenant's cached marketplace pages are dropped: its invoices show the new "
                "issuer at once.",
                parameters=("TenantId",),
                request_body={
                    "required": True,
                    "content": {JSON: {"schema": _schema("SmeProfileUpdate")}},
                },
            ),
        },
        "/v1/sme/metrics": {
            "get": _operation(
                "getSmeMetrics",
                "SME invoice metrics",
                "SME",
                {
                    **_ok("Counts and amounts per status.", "SmeMetrics"),
                    **_errors(
                        {
                            400: "A query parameter was sent (none are accepted) or the "
                            "X-Tenant-Id header is missing or invalid.",
                            403: "Only SMEs (their own invoices) and operators (the tenant's).",
                            503: _STORE_DOWN,
                        }
                    ),
                },
                parameters=("TenantId",),
            )
        },
    }


TAGS = [
    {"name": "Marketplace", "description": "Browse investable invoices."},
    {
        "name": "Investing",
        "description": "Funding intents, investor commitments and investor locks.",
    },
    {"name": "SME", "description": "Views for SMEs about their own invoices."},
]
