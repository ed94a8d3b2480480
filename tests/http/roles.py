"""A test-only caller resolver: act as any role and wallet through ``X-Test-*`` headers.

Until JWT authentication lands, the default resolver makes every caller the local operator.
These tests need investors with bound wallets, SMEs and admins, so they build the app with
``resolve_caller=role_header_caller``. When real tokens arrive, only ``as_caller`` has to change
(return an ``Authorization`` header instead).
"""

from __future__ import annotations

from starlette.requests import Request

from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_http.callers import Caller, header_tenant_caller


def role_header_caller(request: Request) -> Caller:
    tenant = header_tenant_caller(request).tenant_id
    role = Role(request.headers.get("x-test-role", "admin"))
    actor_id = request.headers.get("x-test-actor", f"test-{role.value}")
    return Caller(tenant, Actor(actor_id, role, request.headers.get("x-test-wallet")))


def as_caller(
    tenant: str, role: str = "admin", actor: str | None = None, wallet: str | None = None
) -> dict[str, str]:
    headers = {"X-Tenant-Id": tenant, "X-Test-Role": role}
    if actor is not None:
        headers["X-Test-Actor"] = actor
    if wallet is not None:
        headers["X-Test-Wallet"] = wallet
    return headers
