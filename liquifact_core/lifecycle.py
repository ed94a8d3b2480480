"""The invoice lifecycle as data: states, who may move an invoice where, and the guard."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from liquifact_core.errors import Forbidden, InvalidTransition


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LINKED_ESCROW = "linked_escrow"
    PARTIALLY_FUNDED = "partially_funded"
    FUNDED = "funded"
    DISBURSED = "disbursed"
    SETTLED = "settled"
    DEFAULTED = "defaulted"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    """Who acts. ``chain`` is the escrow indexer or reconciliation, never an API client."""

    SME = "sme"
    INVESTOR = "investor"
    ADMIN = "admin"
    SERVICE = "service"
    CHAIN = "chain"


S = InvoiceStatus
_OPERATOR = frozenset({Role.ADMIN, Role.SERVICE})
_CHAIN = frozenset({Role.CHAIN})


@attrs.frozen
class Rule:
    """One allowed edge of the lifecycle."""

    roles: frozenset[Role]
    needs_reason: bool = False
    owner_may: bool = False  # the SME that submitted the invoice may take this edge too


TRANSITIONS: Mapping[InvoiceStatus, Mapping[InvoiceStatus, Rule]] = {
    S.PENDING: {
        S.APPROVED: Rule(_OPERATOR),
        S.REJECTED: Rule(_OPERATOR, needs_reason=True),
        S.CANCELLED: Rule(_OPERATOR, needs_reason=True, owner_may=True),
    },
    S.APPROVED: {
        S.LINKED_ESCROW: Rule(_OPERATOR),
        S.CANCELLED: Rule(_OPERATOR, needs_reason=True),
    },
    S.LINKED_ESCROW: {
        S.PARTIALLY_FUNDED: Rule(_CHAIN),
        S.FUNDED: Rule(_CHAIN),
        S.CANCELLED: Rule(_OPERATOR | _CHAIN, needs_reason=True),
    },
    S.PARTIALLY_FUNDED: {
        S.FUNDED: Rule(_CHAIN),
        S.CANCELLED: Rule(_OPERATOR | _CHAIN, needs_reason=True),
    },
    S.FUNDED: {
        S.SETTLED: Rule(_CHAIN),
        S.DISBURSED: Rule(_CHAIN),
    },
    S.DISBURSED: {
        S.SETTLED: Rule(_CHAIN),
        S.DEFAULTED: Rule(_OPERATOR, needs_reason=True),
    },
    S.REJECTED: {},
    S.CANCELLED: {},
    S.SETTLED: {},
    S.DEFAULTED: {},
}

TERMINAL = frozenset(status for status, edges in TRANSITIONS.items() if not edges)
INVESTABLE = frozenset({S.LINKED_ESCROW, S.PARTIALLY_FUNDED})


def allowed_targets(current: InvoiceStatus) -> tuple[InvoiceStatus, ...]:
    """Every state reachable in one step from ``current``, whoever acts."""
    return tuple(TRANSITIONS[current])


def allowed_targets_for(
    current: InvoiceStatus, role: Role, *, is_owner: bool
) -> tuple[InvoiceStatus, ...]:
    """The states this actor may move an invoice in ``current`` to."""
    return tuple(
        target
        for target, rule in TRANSITIONS[current].items()
        if role in rule.roles or (is_owner and rule.owner_may and role is Role.SME)
    )


def check_transition(
    current: InvoiceStatus, target: InvoiceStatus, role: Role, *, is_owner: bool
) -> Rule:
    """The rule for ``current -> target`` if this actor may take it; raises otherwise."""
    rule = TRANSITIONS[current].get(target)
    if rule is None:
        raise InvalidTransition(
            current.value, target.value, [s.value for s in TRANSITIONS[current]]
        )
    if role in rule.roles or (is_owner and rule.owner_may and role is Role.SME):
        return rule
    raise Forbidden(
        f"A caller with role '{role.value}' may not move an invoice to '{target.value}'."
    )
