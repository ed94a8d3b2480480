"""Audit events: an append-only record of who did what to which resource."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs


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
