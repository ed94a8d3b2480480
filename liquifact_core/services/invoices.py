"""Invoice use cases: submit, read, edit while pending, and move through the lifecycle."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from liquifact_core.amounts import Stroops
from liquifact_core.audit import AuditEvent
from liquifact_core.chain import EscrowLedger
from liquifact_core.changes import Change, CommitmentChanged, InvoiceChanged
from liquifact_core.commitments import Commitment, commitment_audit_event
from liquifact_core.errors import (
    Conflict,
    Forbidden,
    StaleVersion,
    invoice_not_found,
)
from liquifact_core.escrow import EscrowReading, check_link
from liquifact_core.escrow_addresses import EscrowAddressBook
from liquifact_core.ids import INVOICE_ID_PREFIX, parse_invoice_id
from liquifact_core.indexing import INDEXER_ACTOR, follow_chain
from liquifact_core.invoices import (
    Actor,
    EscrowLink,
    Invoice,
    InvoiceDraft,
    InvoiceListQuery,
    InvoicePatch,
    Transition,
    TransitionReason,
)
from liquifact_core.kyc import KycRole
from liquifact_core.lifecycle import (
    INVESTABLE,
    TERMINAL,
    InvoiceStatus,
    Role,
    allowed_targets,
    allowed_targets_for,
    check_transition,
)
from liquifact_core.ports import (
    ChangeListener,
    Clock,
    IdGenerator,
    InvoiceQuery,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
)
from liquifact_core.services.documents import forget_invoice_files
from liquifact_core.services.kyc import KycGate
from liquifact_core.services.webhooks import WebhookOutbox

_WRITERS = frozenset({Role.SME, Role.ADMIN, Role.SERVICE})
_OPERATORS = frozenset({Role.ADMIN, Role.SERVICE})


@attrs.frozen
class InvoiceState:
    """Where an invoice is and where it can go next."""

    invoice_id: str
    status: InvoiceStatus
    version: int
    allowed_transitions: tuple[InvoiceStatus, ...]
    allowed_for_caller: tuple[InvoiceStatus, ...]


class InvoiceService:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        changes: ChangeListener,
        outbox: WebhookOutbox | None = None,
        *,
        ledger: EscrowLedger | None = None,
        escrow_addresses: EscrowAddressBook | None = None,
        kyc: KycGate | None = None,
        read_units: UnitOfWorkFactory | None = None,
    ) -> None:
        """``changes`` hears, after each commit, every lifecycle or funding change
        (``InvoiceChanged``); ``outbox`` writes each history step's webhook delivery job in
        the step's own transaction (default: one with the spec's retries over ``ids``).
        ``ledger``: the chain ``link_escrow`` checks the contract on (none: not checked);
        ``escrow_addresses``: the ``ESCROW_ADDR_BY_INVOICE`` mapping (none: empty); ``kyc``:
        the gate an invoice's SME passes before its escrow is linked (default: the mock's,
        verifying subjects without a record); ``read_units``: the store's read units, which
        serve ``list`` from one snapshot with the maintained totals (default: units of work,
        which count the rows)."""
        self._uow = unit_of_work
        self._read_units = read_units or unit_of_work
        self._clock = clock
        self._ids = ids
        self._changes = changes
        self._outbox = outbox or WebhookOutbox(ids)
        self._ledger = ledger
        self._addresses = escrow_addresses or EscrowAddressBook()
        self._kyc = kyc or KycGate()

    # ---- reads -------------------------------------------------------------------------
    def get(self, tenant_id: str, actor: Actor, invoice_id: str) -> Invoice:
        with self._uow(tenant_id) as uow:
            return self._visible(uow, tenant_id, actor, invoice_id)

    def list(self, tenant_id: str, actor: Actor, query: InvoiceListQuery | None = None) -> Page:
        """One page of the invoices ``actor`` may see: SMEs their own, investors only
        investable ones, operators all; filtered by ``query.status`` when given."""
        query = query or InvoiceListQuery()
        statuses = query.status
        sme_id = None
        if actor.role is Role.SME:
            sme_id = actor.id
        elif actor.role is Role.INVESTOR:
            statuses = (statuses or INVESTABLE) & INVESTABLE
            if not statuses:
                return Page(items=[], total=0)
        # A read unit: the page and its total come from one snapshot, and the total from the
        # counters the store maintains (no count of the rows).
        with self._read_units(tenant_id) as uow:
            return uow.invoices.list(
                InvoiceQuery(tenant_id, statuses, sme_id, query.limit, query.offset)
            )

    def state(self, tenant_id: str, actor: Actor, invoice_id: str) -> InvoiceState:
        invoice = self.get(tenant_id, actor, invoice_id)
        return InvoiceState(
            invoice_id=invoice.id,
            status=invoice.status,
            version=invoice.version,
            allowed_transitions=allowed_targets(invoice.status),
            allowed_for_caller=allowed_targets_for(
                invoice.status, actor.role, is_owner=invoice.is_owned_by(actor)
            ),
        )

    def history(self, tenant_id: str, actor: Actor, invoice_id: str) -> Sequence[Transition]:
        with self._uow(tenant_id) as uow:
            self._visible(uow, tenant_id, actor, invoice_id)
            return uow.invoices.history(tenant_id, invoice_id)

    # ---- writes while pending -----------------------------------------------------------
    def submit(self, tenant_id: str, actor: Actor, draft: InvoiceDraft) -> Invoice:
        """Record a new ``pending`` invoice of ``actor`` (an SME, or an operator on its
        behalf) with its creation step and audit event, in one transaction."""
        if actor.role not in _WRITERS:
            raise Forbidden("Only SMEs and operators may submit invoices.")
        now = self._clock.now()
        invoice = Invoice(
            id=self._ids.new_id(INVOICE_ID_PREFIX),
            tenant_id=tenant_id,
            sme_id=actor.id,
            sme_wallet=actor.wallet,
            draft=draft,
            status=InvoiceStatus.PENDING,
            version=1,
            created_at=now,
            updated_at=now,
        )
        creation = Transition(
            invoice_id=invoice.id,
            tenant_id=tenant_id,
            sequence=1,
            from_status=None,
            to_status=InvoiceStatus.PENDING,
            actor_id=actor.id,
            actor_role=actor.role,
            at=now,
        )
        with self._uow(tenant_id) as uow:
            uow.invoices.add(invoice)
            self._record_step(uow, creation)
            self._audit(uow, invoice, actor, "invoice.created", {"status": "pending"})
            uow.commit()
        return invoice

    def update(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        patch: InvoicePatch,
        expected_version: int | None = None,
    ) -> Invoice:
        """Change client fields of a pending invoice (``InvoicePatch``: absent fields stay,
        ``None`` clears an optional one); the result is checked as a whole draft."""
        with self._uow(tenant_id) as uow:
            invoice = self._editable(uow, tenant_id, actor, invoice_id, expected_version)
            draft = patch.apply(invoice.draft)
            now = self._clock.now()
            updated = attrs.evolve(
                invoice, draft=draft, version=invoice.version + 1, updated_at=now
            )
            uow.invoices.update(updated, invoice.version)
            self._audit(uow, updated, actor, "invoice.updated", {"fields": patch.changed_fields()})
            uow.commit()
        return updated

    def delete(
        self, tenant_id: str, actor: Actor, invoice_id: str, expected_version: int | None = None
    ) -> None:
        """Soft-delete a pending invoice: it disappears from reads but its rows remain; its
        documents go (``documents.forget_invoice_files``)."""
        with self._uow(tenant_id) as uow:
            invoice = self._editable(uow, tenant_id, actor, invoice_id, expected_version)
            now = self._clock.now()
            deleted = attrs.evolve(
                invoice, deleted_at=now, updated_at=now, version=invoice.version + 1
            )
            uow.invoices.update(deleted, invoice.version)
            self._audit(uow, deleted, actor, "invoice.deleted", {})
            # Its documents go with it (rows now, objects by a job: no storage call here).
            forget_invoice_files(uow, self._ids, deleted, now)
            uow.commit()

    # ---- lifecycle ----------------------------------------------------------------------
    def approve(
        self, tenant_id: str, actor: Actor, invoice_id: str, expected_version: int | None = None
    ) -> Invoice:
        return self.transition(
            tenant_id, actor, invoice_id, InvoiceStatus.APPROVED, expected_version=expected_version
        )

    def reject(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        reason: TransitionReason,
        expected_version: int | None = None,
    ) -> Invoice:
        return self._with_reason(
            InvoiceStatus.REJECTED, tenant_id, actor, invoice_id, reason, expected_version
        )

    def cancel(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        reason: TransitionReason,
        expected_version: int | None = None,
    ) -> Invoice:
        return self._with_reason(
            InvoiceStatus.CANCELLED, tenant_id, actor, invoice_id, reason, expected_version
        )

    def mark_defaulted(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        reason: TransitionReason,
        expected_version: int | None = None,
    ) -> Invoice:
        return self._with_reason(
            InvoiceStatus.DEFAULTED, tenant_id, actor, invoice_id, reason, expected_version
        )

    def _with_reason(
        self,
        target: InvoiceStatus,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        reason: TransitionReason,
        expected_version: int | None,
    ) -> Invoice:
        return self.transition(
            tenant_id,
            actor,
            invoice_id,
            target,
            reason=reason.reason,
            expected_version=expected_version,
        )

    def link_escrow(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        link: EscrowLink,
        expected_version: int | None = None,
    ) -> Invoice:
        """Link an approved invoice to its escrow contract (``approved`` -> ``linked_escrow``).

        Before anything is written (issue 12, item 5), in this order:

        1. the invoice is read in a unit of its own (404 when missing or hidden; 412 on a stale
           ``expected_version``) and the lifecycle guard runs (403 / 409 as for any
           transition), so a link that cannot happen asks nothing of the chain; then the
           SME's KYC (403 ``SME_KYC_NOT_VERIFIED`` unless verified or exempted);
        2. the ``ESCROW_ADDR_BY_INVOICE`` mapping: 422 ``ESCROW_ADDRESS_NOT_MAPPED`` /
           ``ESCROW_NOT_ALLOWLISTED`` (``EscrowAddressBook.check_link_allowed``);
        3. with a ledger, the contract is read from the chain, outside any transaction:
           422 ``ESCROW_NOT_RECOGNISED`` (no LiquiFact escrow at the address) or the core's
           link refusals (``check_link``: another invoice id, not open, another funding
           target); 503 ``retryable`` when the chain cannot be asked.

        Then the transition runs in its own unit, re-checking the invoice as it is then.
        Without a ledger step 3 is skipped: the link is recorded as given."""
        address = link.escrow_address.value
        if self._ledger is not None or self._addresses.configured:
            with self._uow(tenant_id) as uow:
                current = self._visible(uow, tenant_id, actor, invoice_id)
                _check_version(current, expected_version)
                check_transition(
                    current.status,
                    InvoiceStatus.LINKED_ESCROW,
                    actor.role,
                    is_owner=current.is_owned_by(actor),
                )
                self._kyc.require(uow, tenant_id, current.sme_id, KycRole.SME)
            self._addresses.check_link_allowed(current.id, address)
            if self._ledger is not None:
                reading = self._ledger.read_escrow(address)
                check_link(reading.escrow, current.id, link.funding_target.value)
        return self.transition(
            tenant_id,
            actor,
            invoice_id,
            InvoiceStatus.LINKED_ESCROW,
            escrow_address=address,
            funding_target=link.funding_target,
            expected_version=expected_version,
        )

    def transition(
        self,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        target: InvoiceStatus,
        *,
        reason: str | None = None,
        escrow_address: str | None = None,
        funding_target: Stroops | None = None,
        expected_version: int | None = None,
    ) -> Invoice:
        """Move an invoice one step along the lifecycle, with audit, in one transaction.
        Linking an escrow needs the invoice's SME verified or exempted (Forbidden
        SME_KYC_NOT_VERIFIED), checked after the lifecycle guard and before any write."""
        with self._uow(tenant_id) as uow:
            invoice = self._visible(uow, tenant_id, actor, invoice_id)
            _check_version(invoice, expected_version)
            moved, step = invoice.move_to(
                target,
                actor,
                self._clock.now(),
                reason=reason,
                escrow_address=escrow_address,
                funding_target=funding_target,
            )
            if target is InvoiceStatus.LINKED_ESCROW:
                self._kyc.require(uow, tenant_id, invoice.sme_id, KycRole.SME)
            uow.invoices.update(moved, invoice.version)
            self._record_step(uow, step)
            metadata: dict[str, Any] = {"from": invoice.status.value, "to": target.value}
            if reason is not None:
                metadata["reason"] = reason
            self._audit(
                uow, moved, actor, f"invoice.{invoice.status.value}_to_{target.value}", metadata
            )
            released = self._release_commitments(uow, moved, actor)
            uow.commit()
        # After commit: a reader must never re-cache the state from before this change.
        self._changes.changed(InvoiceChanged(tenant_id, moved.id, invoice.status, moved.status))
        for commitment in released:
            self._changes.changed(
                CommitmentChanged(
                    tenant_id, commitment.invoice_id, commitment.id, commitment.investor_address
                )
            )
        return moved

    def _release_commitments(
        self, uow: UnitOfWork, invoice: Invoice, actor: Actor
    ) -> Sequence[Commitment]:
        """A terminal invoice (rejected, cancelled, settled, defaulted) can take no funding:
        its pending commitments are released in the same unit, one audit event each, so they
        stop counting in locks and against the escrow (issue 9, item 7)."""
        if invoice.status not in TERMINAL:
            return ()
        released = uow.commitments.release_pending(
            invoice.tenant_id, invoice.id, invoice.updated_at
        )
        for commitment in released:
            uow.audit.append(
                commitment_audit_event(
                    self._ids.new_id("aud_"),
                    commitment,
                    actor,
                    "commitment.released",
                    invoiceStatus=invoice.status.value,
                )
            )
        return released

    def record_chain_funding(
        self, tenant_id: str, actor: Actor, invoice_id: str, funded_stroops: int
    ) -> Invoice:
        """Apply the funded amount the chain reports (indexer or reconciliation only)."""
        with self._uow(tenant_id) as uow:
            invoice = self._visible(uow, tenant_id, actor, invoice_id)
            updated, step = invoice.record_funding(funded_stroops, actor, self._clock.now())
            if updated is invoice:
                return invoice  # the chain re-reported what we already know
            uow.invoices.update(updated, invoice.version)
            metadata: dict[str, Any] = {"fundedStroops": str(funded_stroops)}
            action = "invoice.funding_recorded"
            if step is not None:
                self._record_step(uow, step)
                metadata.update({"from": invoice.status.value, "to": updated.status.value})
                action = f"invoice.{invoice.status.value}_to_{updated.status.value}"
            self._audit(uow, updated, actor, action, metadata)
            uow.commit()
        self._changes.changed(InvoiceChanged(tenant_id, updated.id, invoice.status, updated.status))
        return updated

    def escrow_address(self, tenant_id: str, actor: Actor, invoice_id: str) -> str | None:
        """The escrow contract of an invoice: the one linked through the API, else the one
        ``ESCROW_ADDR_BY_INVOICE`` maps it to (an invoice linked outside the API), else None."""
        invoice = self.get(tenant_id, actor, invoice_id)
        return invoice.escrow_address or self._addresses.address_for(invoice.id)

    def follow_chain_in(
        self, uow: UnitOfWork, invoice: Invoice, reading: EscrowReading
    ) -> Sequence[Change]:
        """Inside the caller's unit ``uow`` (the escrow indexer's, which also writes the
        projection and cursor): move ``invoice`` to the state the contract's ``reading``
        implies (``indexing.follow_chain``: chain-role steps only, each checked by the
        lifecycle) and set its funded amount. Each step is written with its history row,
        webhook delivery job and audit event; a terminal state releases pending commitments,
        as ``transition`` does. Returns the changes to ``publish`` once the unit commits
        (none when the reading changes nothing). StaleVersion if the invoice moved since it
        was read (the caller's unit then rolls back)."""
        update = follow_chain(invoice, reading, self._clock.now())
        if not update.changed:
            return ()
        moved = update.invoice
        uow.invoices.update(moved, invoice.version)
        funded = {"fundedStroops": str(moved.funded_stroops)}
        if not update.steps:
            self._audit(uow, moved, INDEXER_ACTOR, "invoice.funding_recorded", funded)
        for step in update.steps:
            self._record_step(uow, step)
            assert step.from_status is not None  # a lifecycle step always has an origin
            metadata: dict[str, Any] = {
                "from": step.from_status.value,
                "to": step.to_status.value,
                **funded,
            }
            if step.reason is not None:
                metadata["reason"] = step.reason
            self._audit(
                uow,
                moved,
                INDEXER_ACTOR,
                f"invoice.{step.from_status.value}_to_{step.to_status.value}",
                metadata,
            )
        released = self._release_commitments(uow, moved, INDEXER_ACTOR)
        changes: builtins.list[Change] = [
            InvoiceChanged(invoice.tenant_id, moved.id, invoice.status, moved.status)
        ]
        changes.extend(
            CommitmentChanged(c.tenant_id, c.invoice_id, c.id, c.investor_address) for c in released
        )
        return tuple(changes)

    def publish(self, changes: Sequence[Change]) -> None:
        """Tell the change listener about ``changes`` (after their unit committed)."""
        for change in changes:
            self._changes.changed(change)

    # ---- helpers ------------------------------------------------------------------------
    def _record_step(self, uow: UnitOfWork, step: Transition) -> None:
        """Every history step goes through here: the step and its webhook delivery job are
        written by the same unit, so both commit or neither does (issue 11, item 5)."""
        uow.invoices.add_transition(step)
        self._outbox.record(uow, step)

    def _visible(self, uow: UnitOfWork, tenant_id: str, actor: Actor, invoice_id: str) -> Invoice:
        return visible_invoice(uow, tenant_id, actor, invoice_id)

    def _editable(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        actor: Actor,
        invoice_id: str,
        expected_version: int | None,
    ) -> Invoice:
        if actor.role not in _WRITERS:
            raise Forbidden("Only the submitting SME and operators may change an invoice.")
        invoice = self._visible(uow, tenant_id, actor, invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status is not InvoiceStatus.PENDING:
            raise Conflict(
                f"Invoice is '{invoice.status.value}'; only pending invoices can be changed.",
                code="INVOICE_NOT_EDITABLE",
            )
        return invoice

    def _audit(
        self,
        uow: UnitOfWork,
        invoice: Invoice,
        actor: Actor,
        action: str,
        metadata: Mapping[str, Any],
    ) -> None:
        uow.audit.append(
            AuditEvent.by(
                actor,
                event_id=self._ids.new_id("aud_"),
                tenant_id=invoice.tenant_id,
                action=action,
                resource=("invoice", invoice.id),
                at=invoice.updated_at,
                metadata=metadata,
            )
        )


def visible_invoice(uow: UnitOfWork, tenant_id: str, actor: Actor, invoice_id: str) -> Invoice:
    """The invoice if this actor may see it: SMEs their own, investors investable ones,
    operators all. Hidden and missing look the same (NotFound, 404)."""
    parse_invoice_id(invoice_id)
    invoice = uow.invoices.get(tenant_id, invoice_id)
    if invoice is None:
        raise invoice_not_found(invoice_id)
    hidden = (actor.role is Role.SME and invoice.sme_id != actor.id) or (
        actor.role is Role.INVESTOR and invoice.status not in INVESTABLE
    )
    if hidden:
        raise invoice_not_found(invoice_id)
    return invoice


def _check_version(invoice: Invoice, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != invoice.version:
        raise StaleVersion(
            f"Invoice is at version {invoice.version}, not {expected_version}; "
            "re-read it and retry."
        )
