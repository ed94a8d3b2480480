"""``/v1/invoices``: create, read, edit while pending, and lifecycle actions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.errors import ValidationError
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_http import representations as rep
from liquifact_http.bodies import read_object
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    expected_version,
    json_response,
    query_int,
    refuse_unknown_query,
    resource,
    services,
)

_LIST_QUERY = frozenset({"status", "page", "limit"})


def _invoice_response(invoice: Invoice, status: int = 200, **headers: str) -> Response:
    return json_response(
        rep.invoice(invoice), status, {"ETag": rep.etag(invoice.version), **headers}
    )


def _statuses(raw: str | None) -> frozenset[InvoiceStatus]:
    if not raw:
        return frozenset()
    try:
        return frozenset(InvoiceStatus(part.strip()) for part in raw.split(","))
    except ValueError:
        allowed = ", ".join(s.value for s in InvoiceStatus)
        raise ValidationError.for_field(
            "status", f"must be a comma-separated list of: {allowed}"
        ) from None


async def create_invoice(request: Request) -> Response:
    caller = caller_of(request)
    payload = await read_object(request)
    invoice = await blocking(
        services(request).invoices.submit, caller.tenant_id, caller.actor, payload
    )
    return _invoice_response(invoice, 201, Location=f"/v1/invoices/{invoice.id}")


async def list_invoices(request: Request) -> Response:
    caller = caller_of(request)
    refuse_unknown_query(request, _LIST_QUERY)
    statuses = _statuses(request.query_params.get("status"))
    limit = query_int(request, "limit", 20, 1, 100)
    page = query_int(request, "page", 1, 1, 1_000_000)
    result = await blocking(
        services(request).invoices.list,
        caller.tenant_id,
        caller.actor,
        statuses=statuses,
        limit=limit,
        offset=(page - 1) * limit,
    )
    total_pages = (result.total + limit - 1) // limit
    return json_response(
        {
            "data": [rep.invoice(item) for item in result.items],
            "meta": {
                "total": result.total,
                "page": page,
                "limit": limit,
                "totalPages": total_pages,
                "hasMore": page < total_pages,
            },
        }
    )


async def get_invoice(request: Request) -> Response:
    caller = caller_of(request)
    invoice = await blocking(
        services(request).invoices.get, caller.tenant_id, caller.actor, request.path_params["id"]
    )
    return _invoice_response(invoice)


async def update_invoice(request: Request) -> Response:
    caller = caller_of(request)
    version = await expected_version(request)
    patch = await read_object(request)
    invoice = await blocking(
        services(request).invoices.update,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
        patch,
        version,
    )
    return _invoice_response(invoice)


async def delete_invoice(request: Request) -> Response:
    caller = caller_of(request)
    version = await expected_version(request)
    await blocking(
        services(request).invoices.delete,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
        version,
    )
    return Response(status_code=204)


async def invoice_state(request: Request) -> Response:
    caller = caller_of(request)
    state = await blocking(
        services(request).invoices.state, caller.tenant_id, caller.actor, request.path_params["id"]
    )
    return json_response(rep.state(state))


async def invoice_history(request: Request) -> Response:
    caller = caller_of(request)
    steps = await blocking(
        services(request).invoices.history,
        caller.tenant_id,
        caller.actor,
        request.path_params["id"],
    )
    return json_response(rep.history(steps))


def _only_fields(body: dict[str, Any], *names: str) -> None:
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise ValidationError.for_field(unknown[0], "is not a known field", "UNKNOWN_FIELD")


def _action(name: str, *fields: str) -> Any:
    """A POST handler for one lifecycle action taking exactly ``fields`` from the body."""

    async def handler(request: Request) -> Response:
        caller = caller_of(request)
        version = await expected_version(request)
        body = await read_object(request, required=bool(fields))
        _only_fields(body, *fields)
        use_case = getattr(services(request).invoices, name)
        arguments = [body.get(field) for field in fields]
        invoice = await blocking(
            use_case,
            caller.tenant_id,
            caller.actor,
            request.path_params["id"],
            *arguments,
            expected_version=version,
        )
        return _invoice_response(invoice)

    handler.__name__ = name
    return handler


routes = [
    resource("/v1/invoices", GET=list_invoices, POST=create_invoice),
    resource("/v1/invoices/{id}", GET=get_invoice, PATCH=update_invoice, DELETE=delete_invoice),
    resource("/v1/invoices/{id}/state", GET=invoice_state),
    resource("/v1/invoices/{id}/history", GET=invoice_history),
    resource("/v1/invoices/{id}/approve", POST=_action("approve")),
    resource("/v1/invoices/{id}/reject", POST=_action("reject", "reason")),
    resource("/v1/invoices/{id}/cancel", POST=_action("cancel", "reason")),
    resource(
        "/v1/invoices/{id}/link-escrow",
        POST=_action("link_escrow", "escrowAddress", "fundingTargetStroops"),
    ),
    resource("/v1/invoices/{id}/default", POST=_action("mark_defaulted", "reason")),
]
