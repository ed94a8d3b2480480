"""The OpenAPI entry of the escrow read (issue 12, item 7). Built with the helpers of
``liquifact_http.openapi``, which merges it into the document."""

from __future__ import annotations

from liquifact_http import representations as rep
from liquifact_http.openapi import (
    Component,
    Object,
    _json_response,
    _operation,
    _schema,
    response,
)
from liquifact_http.openapi_auth import _errors
from liquifact_http.routes.escrow import ESCROW_ADDRESS_HEADER, ESCROW_PATH

_TAG = "Escrow"
TAGS = [
    {
        "name": _TAG,
        "description": "Invoices' Soroban escrows as the indexer reads them from the chain.",
    }
]


def components() -> dict[str, Component]:
    return {**response(rep.EscrowBody, "An invoice's escrow, as the indexer last read it.")}


def parameters() -> Object:
    return {
        "EscrowInvoiceId": {
            "name": "invoiceId",
            "in": "path",
            "required": True,
            "schema": _schema("InvoiceId"),
        },
    }


def headers() -> Object:
    return {
        "EscrowAddress": {
            "description": "The escrow contract's address (C..., StrKey).",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": "^C[A-Z2-7]{55}$",
                "format": "soroban-contract",
            },
        },
    }


def paths() -> Object:
    ok = _json_response(
        "The escrow: the contract's state as last read, the derived figures, its legal hold "
        "and pause flags, the ledger it reflects and whether it is stale.",
        _schema("Escrow"),
    )
    ok["headers"][ESCROW_ADDRESS_HEADER] = {"$ref": "#/components/headers/EscrowAddress"}
    return {
        ESCROW_PATH: {
            "get": _operation(
                "getEscrow",
                "An invoice's escrow",
                _TAG,
                {
                    "200": ok,
                    **_errors(
                        {
                            400: "An invalid invoice id or X-Tenant-Id header, or an unknown "
                            "query parameter.",
                            404: "No such invoice the caller may see (NOT_FOUND: SMEs "
                            "see their own, investors investable ones), or its escrow has not "
                            "been indexed yet (ESCROW_NOT_INDEXED).",
                            503: "The data store is unavailable; retry later with backoff.",
                        }
                    ),
                },
                description="Served from the indexer's projection (no chain call): `stale` "
                "says whether it may be behind the chain. With REDIS_ESCROW_CACHE_ENABLED the "
                "answer may come from the Redis cache (`X-Cache: HIT` or `MISS`), dropped when "
                "the invoice or its projection changes.",
                parameters=("TenantId", "EscrowInvoiceId"),
            )
        },
    }
