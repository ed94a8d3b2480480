"""What changed: events the use cases publish after each committed write.

The core only reports facts ("invoice X of tenant T moved from approved to linked_escrow");
what a fact means elsewhere is decided outside the core: the response caches drop the
affected entries (``liquifact_adapters.cache.invalidation``), later the job engine will turn
the same events into webhooks. Events are published after commit, never for a write that
rolled back, so a listener never sees a change that did not happen.
"""

from __future__ import annotations

import attrs

from liquifact_core.lifecycle import InvoiceStatus


@attrs.frozen
class InvoiceChanged:
    """An invoice's lifecycle state or chain-reported funding changed.

    ``from_status`` is the state before the change and ``to_status`` the state after; they are
    equal when only the funded amount moved within a state (``partially_funded``).
    """

    tenant_id: str
    invoice_id: str
    from_status: InvoiceStatus
    to_status: InvoiceStatus


@attrs.frozen
class CommitmentChanged:
    """An investor commitment was recorded or its status / transaction hash changed."""

    tenant_id: str
    invoice_id: str
    commitment_id: str
    investor_address: str  # the funder's ``G...`` account


@attrs.frozen
class ProfileChanged:
    """An SME's profile was created or replaced: its invoices show a new issuer name and
    country, and match other marketplace searches."""

    tenant_id: str
    subject: str  # the SME principal (its invoices' ``sme_id``)


@attrs.frozen
class EscrowProjected:
    """The escrow indexer wrote a new projection of an invoice's escrow (``indexing.
    EscrowProjection``): a fresh reading of its contract, whether or not the invoice moved
    (a legal hold or a pause changes only the projection)."""

    tenant_id: str
    invoice_id: str


Change = InvoiceChanged | CommitmentChanged | ProfileChanged | EscrowProjected


class IgnoreChanges:
    """The ``ChangeListener`` of a deployment that reacts to nothing (no cache, no webhooks)."""

    def changed(self, change: Change) -> None:
        return None
