"""SME metrics: how many invoices are in each state, and for how much."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from liquifact_core.errors import Forbidden
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import Role
from liquifact_core.ports import StatusTotals, UnitOfWorkFactory


@attrs.frozen
class SmeMetrics:
    scope: str  # "sme": the caller's own invoices; "tenant": every invoice of the tenant
    sme_id: str | None
    totals: Sequence[StatusTotals]


class MetricsService:
    def __init__(self, unit_of_work: UnitOfWorkFactory) -> None:
        self._uow = unit_of_work

    def sme_metrics(self, tenant_id: str, actor: Actor) -> SmeMetrics:
        """An SME's own invoices per state; operators get the whole tenant's."""
        if actor.role is Role.SME:
            sme_id: str | None = actor.id
        elif actor.role in (Role.ADMIN, Role.SERVICE):
            sme_id = None
        else:
            raise Forbidden("Only SMEs and operators may read SME metrics.")
        with self._uow(tenant_id) as uow:
            totals = uow.invoices.status_totals(tenant_id, sme_id)
        return SmeMetrics("sme" if sme_id else "tenant", sme_id, totals)
