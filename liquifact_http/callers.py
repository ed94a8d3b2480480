"""Who is calling, and for which tenant.

Until authentication lands, the tenant comes from ``X-Tenant-Id`` and the caller acts as the
local operator (role admin). The gateway replaces ``resolve_caller`` with JWT / API-key checks.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from starlette.requests import Request

from liquifact_core.ids import parse_tenant_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.problems import Problem

TENANT_HEADER = "X-Tenant-Id"
LOCAL_OPERATOR = Actor("local-operator", Role.ADMIN)


@attrs.frozen
class Caller:
    tenant_id: str
    actor: Actor


CallerResolver = Callable[[Request], Caller]


def caller_of(request: Request) -> Caller:
    """The caller of this request, by the resolver the app was built with."""
    resolver: CallerResolver = request.app.state.resolve_caller
    return resolver(request)


def header_tenant_caller(request: Request) -> Caller:
    raw = request.headers.get(TENANT_HEADER)
    if raw is None:
        raise Problem(400, "TENANT_REQUIRED", f"The {TENANT_HEADER} header is required.")
    return Caller(parse_tenant_id(raw, field=TENANT_HEADER), LOCAL_OPERATOR)
