"""``/v1/invoices``: create, read, edit while pending, and lifecycle actions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.invoices import (
    EscrowLink,
    Invoice,
    InvoiceDraft,
    InvoiceListQuery,
    InvoicePatch,
    TransitionReason,
)
from liquifact_core.lifecycle import Role
from liquifact_http import pages, wire
from liquifact_http import representations as rep
from liquifact_http.bodies import read_object
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import (
    blocking,
    body,
    expected_version,
    json_response,
    reads_query,
    remembered_query,
    resource,
    services,
)
from liquifact_http.wire import unstructure


def _invoice_response(invoice: Invoice, status: int = 200, **headers: str) -> Response:
    return json_response(
        rep.invoice(invoice), status, {"ETag": rep.etag(invoice.version), **headers}
    )


async def create_invoice(request: Request) -> Response:
    caller = caller_of(request)
    draft = await body(request, InvoiceDraft)
    invoice = await blocking(
        services(request).invoices.submit, caller.tenant_id, caller.actor, draft
    )
    return _invoice_response(invoice, 201, Location=f"/v1/invoices/{invoice.id}")


@reads_query
async def list_invoices(request: Request) -> Response:
    caller = caller_of(request)
    wanted = remembered_query(request, InvoiceListQuery)
    result = await blocking(services(request).invoices.list, caller.tenant_id, caller.actor, wanted)
    return json_response(pages.invoice_page(result, wanted))


async def get_invoice(request: Request) -> Response:
    """The invoice; investors (who see only investable ones) get the buyer-safe view of it, the
    one the marketplace lists: no buyer contact or tax data, no internal ids."""
    caller = caller_of(request)
    wanted = request.path_params["id"]
    if caller.actor.role is Role.INVESTOR:
        market = services(request).marketplace
        item = await blocking(market.item, caller.tenant_id, caller.actor, wanted)
        view = unstructure(rep.MarketItemBody.of(item))
        return json_response(view, headers={"ETag": rep.etag(item.invoice.version)})
    invoice = await blocking(services(request).invoices.get, caller.tenant_id, caller.actor, wanted)
    return _invoice_response(invoice)


async def update_invoice(request: Request) -> Response:
    caller = caller_of(request)
    version = await expected_version(request)
    raw = await read_object(request)
    patch = wire.structure(raw, InvoicePatch)
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
    return json_response(pages.history(steps, public=caller.actor.role is Role.INVESTOR))


def _action(name: str, command: type[Any] | None = None) -> Any:
    """A POST handler for one lifecycle action whose body is ``command`` (none: an empty or
    absent body; any field in it is unknown)."""

    async def handler(request: Request) -> Response:
        caller = caller_of(request)
        version = await expected_version(request)
        use_case = getattr(services(request).invoices, name)
        arguments: list[Any] = []
        if command is None:
            wire.refuse_fields(await read_object(request, required=False))
        else:
            arguments.append(await body(request, command))
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
    handler.command = command  # type: ignore[attr-defined]  # read by the OpenAPI generator
    return handler


routes = [
    resource("/v1/invoices", GET=list_invoices, POST=create_invoice),
    resource("/v1/invoices/{id}", GET=get_invoice, PATCH=update_invoice, DELETE=delete_invoice),
    resource("/v1/invoices/{id}/state", GET=invoice_state),
    resource("/v1/invoices/{id}/history", GET=invoice_history),
    resource("/v1/invoices/{id}/approve", POST=_action("approve")),
    resource("/v1/invoices/{id}/reject", POST=_action("reject", TransitionReason)),
    resource("/v1/invoices/{id}/cancel", POST=_action("cancel", TransitionReason)),
    resource("/v1/invoices/{id}/link-escrow", POST=_action("link_escrow", EscrowLink)),
    resource("/v1/invoices/{id}/default", POST=_action("mark_defaulted", TransitionReason)),
]
