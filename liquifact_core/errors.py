"""One error tree for the whole domain.

Every error carries a stable machine ``code``; the HTTP shell maps classes to statuses and
never shows anything but ``message`` (which must be safe to show) and ``field_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs


@attrs.frozen
class FieldError:
    """One invalid input field: its wire name and what is wrong with it."""

    field: str
    message: str
    code: str = "INVALID_VALUE"


class LiquifactError(Exception):
    """Base of every domain error. ``message`` is safe to show to API clients."""

    code = "LIQUIFACT_ERROR"
    retryable = False
    # Set only on an error raised again from an idempotency record (a replay): what the caller
    # kept about the first attempt (``idempotency.RecordedOutcome.context``).
    replayed_context: Mapping[str, str] | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field_errors: Sequence[FieldError] = (),
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.field_errors: tuple[FieldError, ...] = tuple(field_errors)


class ValidationError(LiquifactError):
    """Input breaks a rule; fixing the input fixes the call."""

    code = "VALIDATION_ERROR"

    @classmethod
    def for_field(cls, field: str, message: str, code: str = "INVALID_VALUE") -> ValidationError:
        """One bad field; the specific ``code`` goes on the field, the error stays generic."""
        return cls(f"{field} {message}", field_errors=[FieldError(field, message, code)])


class NotFound(LiquifactError):
    """The resource does not exist for this caller (or is hidden from it)."""

    code = "NOT_FOUND"


class Conflict(LiquifactError):
    """The request clashes with the current state of a resource."""

    code = "CONFLICT"


class InvalidTransition(Conflict):
    """A lifecycle transition that the transition table does not allow."""

    code = "INVALID_TRANSITION"

    def __init__(self, current: str, target: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"Cannot move an invoice from '{current}' to '{target}'. Allowed: {allowed_text}."
        )
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)


class Unprocessable(LiquifactError):
    """The request is well formed but what it refers to cannot take it (an escrow whose
    on-chain state refuses the link, a contribution over a cap): changing the request or the
    state it depends on may help, retrying the same call will not."""

    code = "UNPROCESSABLE"


class Locked(LiquifactError):
    """The resource is frozen by a hold (the escrow's legal hold): nothing changes it until the
    hold is lifted."""

    code = "LOCKED"


class StaleVersion(LiquifactError):
    """The caller's version of a resource is not the current one (optimistic concurrency)."""

    code = "PRECONDITION_FAILED"


class Forbidden(LiquifactError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"


class Unauthenticated(LiquifactError):
    """The caller could not be identified."""

    code = "AUTHENTICATION_REQUIRED"


class Unavailable(LiquifactError):
    """A dependency is down or overloaded; the same call may succeed later."""

    code = "SERVICE_UNAVAILABLE"
    retryable = True


# ---- One factory per store error -------------------------------------------------------------
# Every store (in-memory, SQLite, PostgreSQL) raises these, so the code and the wording a client
# sees never depend on the backend; the contract suite (tests/contract) checks both.

STORE_UNAVAILABLE_MESSAGE = "The data store is unavailable."
CONCURRENT_UPDATE_MESSAGE = "Another change to the same data happened at the same time; retry."


def invoice_not_found(invoice_id: str) -> NotFound:
    """The invoice does not exist for this tenant (or is hidden from the caller)."""
    return NotFound(f"Invoice '{invoice_id}' was not found.")


def duplicate_invoice_number(invoice_number: str) -> Conflict:
    """The SME already has a live invoice whose number has the same canonical form
    (``liquifact_core.invoice_numbers``). It names only the caller's own number: nothing about
    other SMEs' invoices (issue 9, item 3)."""
    return Conflict(
        f"Invoice number '{invoice_number}' is already used.", code="DUPLICATE_INVOICE_NUMBER"
    )


def escrow_already_linked() -> Conflict:
    """The escrow contract is already linked to another invoice. Each invoice has a contract
    of its own (the contract holds one invoice id), and the chain is global, so this holds
    across tenants; the message names neither the other invoice nor its tenant."""
    return Conflict(
        "This escrow contract is already linked to another invoice.",
        code="ESCROW_ALREADY_LINKED",
    )


def duplicate_invoice_id(invoice_id: str) -> Conflict:
    """An invoice with this id is already stored (an id generator bug, never a client's)."""
    return Conflict(f"Invoice '{invoice_id}' already exists.", code="DUPLICATE_INVOICE_ID")


def stale_invoice() -> StaleVersion:
    """The stored invoice is no longer at the version the writer read."""
    return StaleVersion("The invoice changed since it was read; re-read it and retry.")


def duplicate_history_step() -> Conflict:
    """Two units appended the same step of an invoice's history: one lost a race."""
    return Conflict("This history step was already recorded.", code="CONCURRENT_UPDATE")


def duplicate_audit_event(event_id: str) -> Conflict:
    """An audit event with this id is already recorded."""
    return Conflict(f"Audit event '{event_id}' was already recorded.", code="DUPLICATE_AUDIT_EVENT")


def duplicate_commitment() -> Conflict:
    """The commitment's id, or its tenant's idempotency key, is already taken."""
    return Conflict("This commitment was already recorded.", code="DUPLICATE_COMMITMENT")


def duplicate_reconciliation_run() -> Conflict:
    """A reconciliation run's id is already taken."""
    return Conflict(
        "This reconciliation run was already recorded.", code="DUPLICATE_RECONCILIATION_RUN"
    )


def commitment_not_found(commitment_id: str) -> NotFound:
    """The commitment does not exist for this tenant."""
    return NotFound(f"Commitment '{commitment_id}' was not found.")


def store_unavailable() -> Unavailable:
    """The store cannot serve now (down, locked past its timeout, disk failure); the driver's
    text stays in ``__cause__`` for logs, never in the client-facing message."""
    return Unavailable(STORE_UNAVAILABLE_MESSAGE)


def schema_not_current() -> Unavailable:
    """The database lacks a migration this code needs."""
    return Unavailable("The data store schema is not up to date.")


def concurrent_update() -> Conflict:
    """The database aborted a unit to keep concurrent transactions consistent; retryable."""
    return Conflict(CONCURRENT_UPDATE_MESSAGE, code="CONCURRENT_UPDATE", retryable=True)
