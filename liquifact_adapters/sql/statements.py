"""Statements whose SQL is the same in SQLite and PostgreSQL, written once.

They use named ``:name`` placeholders, SQLite's style; ``pyformat`` rewrites them to psycopg's
``%(name)s``. Only constant text is rewritten, at import time: no SQL is built from a request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from liquifact_adapters.sql.rows import SORT_COLUMNS
from liquifact_core.marketplace import SortField, SortOrder

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def pyformat(sql: str) -> str:
    """``sql`` with every ``:name`` placeholder as ``%(name)s`` (casts like ``::text`` stay)."""
    if "%" in sql:
        raise ValueError("A shared statement must not contain '%'.")
    return _NAMED.sub(r"%(\1)s", sql)


INVOICE_COLUMNS = (
    "tenant_id, id, sme_id, sme_wallet, invoice_number, buyer_name, buyer_email, buyer_tax_id, "
    "amount, currency, issue_date, due_date, yield_bps, description, metadata, status, "
    "status_reason, version, escrow_address, funding_target_stroops, funded_stroops, "
    "created_at, updated_at, deleted_at, funded_ratio_hundredths, amount_key, invoice_number_key, "
    "buyer_name_key, attestation_digest"
)
_INVOICE_NAMES = [name.strip() for name in INVOICE_COLUMNS.split(",")]

INSERT_INVOICE = (
    f"INSERT INTO invoices ({INVOICE_COLUMNS})\nVALUES ("
    + ", ".join(f":{name}" for name in _INVOICE_NAMES)
    + ")"
)

# The version and liveness checks sit in the WHERE clause so that checking and writing are
# one atomic statement; a row count of 0 means someone else won.
_ASSIGNMENTS = ", ".join(
    f"{name} = :{name}" for name in _INVOICE_NAMES if name not in ("tenant_id", "id")
)
UPDATE_INVOICE = (
    "UPDATE invoices SET "  # noqa: S608 - built at import time from the constant names above
    + _ASSIGNMENTS
    + "\nWHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version"
    + " AND deleted_at IS NULL"
)

SELECT_INVOICE = (
    "SELECT * FROM invoices WHERE tenant_id = :tenant_id AND id = :id AND deleted_at IS NULL"
)

INSERT_TRANSITION = """
INSERT INTO invoice_transitions (
    tenant_id, invoice_id, sequence, from_status, to_status, actor_id, actor_role, reason, at
) VALUES (
    :tenant_id, :invoice_id, :sequence, :from_status, :to_status, :actor_id, :actor_role,
    :reason, :at
)
"""

SELECT_HISTORY = """
SELECT * FROM invoice_transitions WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id
ORDER BY sequence
"""

INSERT_AUDIT = """
INSERT INTO audit_log_events (
    id, tenant_id, actor_id, actor_role, action, resource_type, resource_id, at, metadata
) VALUES (
    :id, :tenant_id, :actor_id, :actor_role, :action, :resource_type, :resource_id, :at,
    :metadata
)
"""

# Followed by the dialect's tie-breaker between events of the same instant, in append order.
SELECT_AUDIT = """
SELECT * FROM audit_log_events
WHERE tenant_id = :tenant_id AND resource_type = :resource_type AND resource_id = :resource_id
ORDER BY at, """

_TRAIL_MATCHING = """
FROM audit_log_events WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id"""


def invoice_trail(position: str) -> tuple[str, str, str]:
    """An invoice's events in append order: a page (after ``:after``, at most ``:limit``),
    their count, and all of them (for a cursor); ``position`` is the dialect's append-order
    column (PostgreSQL ``seq``, SQLite ``rowid``), selected as ``position``."""
    select = f"SELECT {position} AS position, *" + _TRAIL_MATCHING
    return (
        select + f" AND {position} > :after ORDER BY {position} LIMIT :limit",
        "SELECT count(*) AS total" + _TRAIL_MATCHING,
        select + f" ORDER BY {position}",
    )


INSERT_COMMITMENT = """
INSERT INTO investor_commitments (
    tenant_id, id, invoice_id, investor_address, amount_stroops, status,
    investor_effective_yield_bps, claim_not_before, submission_status, tx_hash,
    actor_id, created_at, updated_at, transaction_xdr, transaction_expires_at, submission_error
) VALUES (
    :tenant_id, :id, :invoice_id, :investor_address, :amount_stroops, :status,
    :investor_effective_yield_bps, :claim_not_before, :submission_status, :tx_hash,
    :actor_id, :created_at, :updated_at, :transaction_xdr, :transaction_expires_at,
    :submission_error
)
"""

# Only what may change is written (PostgreSQL's application role may update nothing else); the
# terms (amount, investor, invoice) never are, and a trigger refuses any statement that tries.
UPDATE_COMMITMENT = """
UPDATE investor_commitments SET
    status = :status, submission_status = :submission_status, tx_hash = :tx_hash,
    updated_at = :updated_at, transaction_xdr = :transaction_xdr,
    transaction_expires_at = :transaction_expires_at, submission_error = :submission_error
WHERE tenant_id = :tenant_id AND id = :id
"""

# A terminal invoice (rejected, cancelled, settled, defaulted) releases its pending
# commitments in one statement; RETURNING hands back what changed, for the audit.
RELEASE_PENDING = """
UPDATE investor_commitments SET status = 'released', updated_at = :at
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND status = 'pending'
RETURNING *
"""

SELECT_COMMITMENT = "SELECT * FROM investor_commitments WHERE tenant_id = :tenant_id AND id = :id"
PENDING_TOTAL = """
SELECT coalesce(sum(amount_stroops), 0) AS total FROM investor_commitments
WHERE tenant_id = :tenant_id AND invoice_id = :invoice_id AND status = 'pending'
"""

# Inserts a claim, or takes over a record that expired or whose in-progress holder's lease
# lapsed. A live record makes the row count 0 and stays as it is. On PostgreSQL a concurrent
# claimant of the same key waits for the first one's transaction, then sees its row.
CLAIM = """
INSERT INTO idempotency_records (
    tenant_id, key, fingerprint, state, claim_id, created_at, expires_at, locked_until
) VALUES (
    :tenant_id, :key, :fingerprint, :state, :claim_id, :created_at, :expires_at, :locked_until
)
ON CONFLICT (tenant_id, key) DO UPDATE SET
    fingerprint = excluded.fingerprint, state = excluded.state, claim_id = excluded.claim_id,
    outcome = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at,
    locked_until = excluded.locked_until
WHERE idempotency_records.expires_at <= :now
    OR (idempotency_records.state = 'in_progress' AND idempotency_records.locked_until <= :now)
"""
COMPLETE = """
UPDATE idempotency_records SET
    state = 'completed', outcome = :outcome
WHERE tenant_id = :tenant_id AND key = :key AND claim_id = :claim_id AND state = 'in_progress'
"""
RELEASE_CLAIM = """
DELETE FROM idempotency_records
WHERE tenant_id = :tenant_id AND key = :key AND claim_id = :claim_id AND state = 'in_progress'
"""
SELECT_RECORD = "SELECT * FROM idempotency_records WHERE tenant_id = :tenant_id AND key = :key"

# Optional filters compare with CAST(... AS TEXT): PostgreSQL cannot infer the type of a lone
# NULL parameter, and SQLite reads the cast the same way.
_OPTIONAL_SME = "(CAST(:sme_id AS TEXT) IS NULL OR sme_id = CAST(:sme_id AS TEXT))"


def live_invoices(status_in: str) -> str:
    """The FROM/WHERE of a tenant's live invoices, filtered by an optional SME and a set of
    statuses; ``status_in`` is the dialect's test of ``status`` against ``:statuses``."""
    return f"""
FROM invoices
WHERE tenant_id = :tenant_id AND deleted_at IS NULL
    AND (:any_status OR status {status_in})
    AND {_OPTIONAL_SME}
"""


def list_invoices(matching: str) -> str:
    """A page of ``live_invoices``, newest first."""
    return "SELECT *" + matching + "ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"


def count_invoices(matching: str) -> str:
    return "SELECT count(*) AS total" + matching


def maintained_counts(status_in: str) -> tuple[str, str]:
    """The totals of ``live_invoices`` from the counters the triggers of migration 0016
    maintain, without reading a row of ``invoices``: the tenant's (``sme_id`` not bound) and
    one SME's (``:sme_id``), over ``:any_status`` or the ``:statuses`` the dialect's
    ``status_in`` tests. A sum over at most one row per status (and stripe, on PostgreSQL)."""
    statuses = f"(:any_status OR status {status_in})"
    total = "SELECT coalesce(sum(n), 0) AS total"
    return (
        total + f"\nFROM invoice_counts WHERE tenant_id = :tenant_id AND {statuses}",
        total
        + "\nFROM invoice_sme_counts WHERE tenant_id = :tenant_id AND sme_id = :sme_id"
        + f" AND {statuses}",
    )


def matching_commitments(status_in: str) -> str:
    """The FROM/WHERE of a tenant's commitments, filtered by an optional investor, an
    optional invoice and a set of statuses; ``status_in`` is the dialect's test of ``status``
    against ``:statuses`` (``:any_status`` is true when the set is empty)."""
    return f"""
FROM investor_commitments
WHERE tenant_id = :tenant_id
    AND (CAST(:investor AS TEXT) IS NULL OR investor_address = CAST(:investor AS TEXT))
    AND (CAST(:invoice_id AS TEXT) IS NULL OR invoice_id = CAST(:invoice_id AS TEXT))
    AND (:any_status OR status {status_in})
"""


def list_commitments(matching: str, collate: str) -> str:
    """A page of ``matching_commitments``, newest first; ids break ties in code point order
    (``collate``: the dialect's clause for it, if any), so pages never overlap."""
    return (
        "SELECT *"
        + matching
        + f"ORDER BY created_at DESC, id{collate} DESC\nLIMIT :limit OFFSET :offset"
    )


def count_commitments(matching: str) -> str:
    return "SELECT count(*) AS total" + matching


_LOCK_GROUPS = """
FROM investor_commitments AS c
JOIN invoices AS i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
WHERE c.tenant_id = :tenant_id AND c.status IN ('pending', 'confirmed')
    AND (CAST(:investor AS TEXT) IS NULL OR c.investor_address = CAST(:investor AS TEXT))
    AND (CAST(:invoice_id AS TEXT) IS NULL OR c.invoice_id = CAST(:invoice_id AS TEXT))
GROUP BY c.invoice_id, c.investor_address
"""


def select_locks(collate: str) -> str:
    """Pending and confirmed commitments per (invoice, investor), with the invoice's terms,
    ordered by ids in code point order (``collate``: the dialect's clause for it, if any)."""
    return (
        """
SELECT c.invoice_id, c.investor_address, sum(c.amount_stroops) AS amount_stroops,
    count(*) AS commitment_count, max(c.updated_at) AS updated_at,
    max(i.yield_bps) AS yield_bps, max(i.due_date) AS due_date
"""
        + _LOCK_GROUPS
        + f"ORDER BY c.invoice_id{collate}, c.investor_address{collate}\n"
        + "LIMIT :limit OFFSET :offset"
    )


COUNT_LOCKS = "SELECT count(*) AS total FROM (SELECT 1 " + _LOCK_GROUPS + ") AS groups"  # noqa: S608


MarketplacePages = Mapping[tuple[SortField, SortOrder, bool], str]

# A marketplace row: the invoice, and its SME's profile (the issuer) under ``issuer_`` names,
# NULL when it has none. Joined on the profiles' primary key: one probe per row of the page,
# never one query per row.
MARKET_SELECT = """SELECT invoices.*, p.subject AS issuer_subject,
    p.display_name AS issuer_display_name, p.country AS issuer_country,
    p.updated_at AS issuer_updated_at"""
MARKET_ISSUERS = """
LEFT JOIN sme_profiles AS p ON p.tenant_id = invoices.tenant_id AND p.subject = invoices.sme_id"""


def market_filters(
    investable_live: str,
    optional: Callable[[str, str], str],
    flag: Callable[[str], str],
    search: str,
) -> str:
    """The WHERE clause of a marketplace search, for a dialect: ``investable_live`` repeats
    the partial indexes' predicate; ``optional(name, type)`` is the dialect's spelling of a
    parameter that may be NULL; ``flag(name)`` of a boolean parameter; ``search`` is the name
    search term (it reads the issuers' ``p.display_name_key``, so only statements joined with
    ``MARKET_ISSUERS`` may carry it; others get ``"TRUE"``). Column names are qualified: the
    joined profiles have a tenant_id too."""

    def bounded(column: str, low: str, high: str, kind: str) -> str:
        lowest, highest = optional(low, kind), optional(high, kind)
        return (
            f"    AND ({lowest} IS NULL OR invoices.{column} >= {lowest})\n"
            f"    AND ({highest} IS NULL OR invoices.{column} <= {highest})\n"
        )

    return (
        f"\nWHERE invoices.tenant_id = {optional('tenant_id', 'text')} AND {investable_live}\n"
        + bounded("yield_bps", "yield_min", "yield_max", "integer")
        + bounded("due_date", "maturity_from", "maturity_to", "date")
        + bounded("funded_ratio_hundredths", "ratio_min", "ratio_max", "integer")
        + bounded("amount_key", "amount_min", "amount_max", "amount")
        + f"    AND ({optional('currency', 'text')} IS NULL"
        + f" OR invoices.currency = {optional('currency', 'text')})\n"
        # Written as exclusions: an equality on status would tempt SQLite's planner into the
        # status index, which cannot deliver the page in its sort order.
        + f"    AND ({flag('linked')} OR invoices.status <> 'linked_escrow')\n"
        + f"    AND ({flag('partial')} OR invoices.status <> 'partially_funded')\n"
        + f"    AND {search}\n"
    )


def market_search(optional: Callable[[str, str], str]) -> str:
    """The name search term: the folded buyer name or the issuer's folded display name
    contains the folded ``q`` (the parameter is a LIKE pattern whose wildcards and escape
    character are escaped: ``liquifact_core.search.contains_pattern``)."""
    pattern = optional("search", "text")
    return (
        f"({pattern} IS NULL OR invoices.buyer_name_key LIKE {pattern} ESCAPE '\\'"
        f" OR p.display_name_key LIKE {pattern} ESCAPE '\\')"
    )


def marketplace_pages(
    matching: str,
    *,
    select: str = "SELECT *",
    id_column: str = "id",
    after_value: Callable[[SortField], str] = lambda _sort: ":after_value",
    after_id: str = ":after_id",
    limit: str = "LIMIT :limit OFFSET :offset",
    expanded_keyset: bool = False,
) -> MarketplacePages:
    """One fixed page statement per (sort, order, keyset or not), built at import time from
    constant column names, so no SQL is ever built from a request. ``matching`` is the
    dialect's FROM/WHERE of the filters; the keyword arguments are its spelling of the id
    order and of the keyset and limit parameters. ``expanded_keyset`` spells "after (value,
    id)" as ``value > v OR (value = v AND id > i)`` instead of a row-value comparison: SQLite
    (3.40) sorts a joined query's rows when a row value bounds its index range, but reads the
    expanded form as the same range of the sort index, in order."""

    def page(sort: SortField, order: SortOrder, keyset: bool) -> str:
        column = SORT_COLUMNS[sort]
        direction = "DESC" if order is SortOrder.DESC else "ASC"
        after = ""
        if keyset:
            # A row value comparison: "strictly after (value, id)" in the page order, which
            # the sort index answers as one range scan.
            operator = "<" if order is SortOrder.DESC else ">"
            value = after_value(sort)
            term = f"({column}, {id_column}) {operator} ({value}, {after_id})"
            if expanded_keyset:
                term = (
                    f"({column} {operator} {value}"
                    f" OR ({column} = {value} AND {id_column} {operator} {after_id}))"
                )
            after = f"    AND {term}\n"
        order_by = f"ORDER BY {column} {direction}, {id_column} {direction}\n"
        return select + matching + after + order_by + limit

    return {
        (sort, order, keyset): page(sort, order, keyset)
        for sort in SortField
        for order in SortOrder
        for keyset in (False, True)
    }
