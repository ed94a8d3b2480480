"""Audit events: an append-only record of who did what to which resource."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from liquifact_core.invoices import Actor


@attrs.frozen
class AuditEvent:
    id: str
    tenant_id: str
    actor_id: str
    actor_role: str
    action: str  # e.g. "invoice.created", "invoice.pending_to_approved"
    resource_type: str
    resource_id: str
    at: datetime
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def by(
        cls,
        actor: Actor,
        *,
        event_id: str,
        tenant_id: str,
        action: str,
        resource: tuple[str, str],
        at: datetime,
        metadata: Mapping[str, Any],
    ) -> AuditEvent:
        """What ``actor`` did (``action``) to ``resource`` (type, id) at ``at``; the metadata
        is copied, so the event never shares a caller's mapping."""
        resource_type, resource_id = resource
        return cls(
            id=event_id,
            tenant_id=tenant_id,
            actor_id=actor.id,
            actor_role=actor.role.value,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            at=at,
            metadata=dict(metadata),
        )
