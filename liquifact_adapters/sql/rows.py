"""Row <-> domain mapping, shared by the SQL dialects through one cattrs converter.

A ``RowConverter`` subclass states how one dialect stores the scalar types (timestamps, dates,
exact decimals, stroop amounts, JSON); the shapes of the rows (which column holds which field,
how an invoice's draft and money are flattened) are written once here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import attrs
import cattrs

from liquifact_adapters.sql.outcomes import outcome_document, outcome_from_document
from liquifact_core.amounts import Money, quantize
from liquifact_core.audit import AuditEvent
from liquifact_core.commitments import Commitment, InvestorLock
from liquifact_core.idempotency import IdempotencyRecord, RecordedOutcome
from liquifact_core.invoice_numbers import canonical_invoice_number
from liquifact_core.invoices import Invoice, InvoiceDraft, Transition
from liquifact_core.lifecycle import InvoiceStatus
from liquifact_core.marketplace import (
    MarketItem,
    MarketplaceQuery,
    SortField,
    SortValue,
    funded_ratio_hundredths,
)
from liquifact_core.profiles import SmeProfile
from liquifact_core.search import contains_pattern, fold

Row = dict[str, Any]
Params = dict[str, Any]

# The marketplace's sort columns; each holds values whose stored order is the sort order.
SORT_COLUMNS: Mapping[SortField, str] = {
    SortField.YIELD_BPS: "yield_bps",
    SortField.MATURITY_DATE: "due_date",
    SortField.FUNDED_RATIO: "funded_ratio_hundredths",
    SortField.AMOUNT: "amount_key",
    SortField.CREATED_AT: "created_at",
}

_DRAFT_COLUMNS = tuple(field.name for field in InvoiceDraft.__attrs_attrs__)


def _is_json_object(kind: Any) -> bool:
    return bool(kind == Mapping[str, Any])


class RowConverter(ABC):
    """Domain objects to statement parameters and rows back to domain objects."""

    def __init__(self) -> None:
        converter = cattrs.Converter()
        converter.register_unstructure_hook(datetime, self.timestamp_to_sql)
        converter.register_structure_hook(datetime, lambda value, _: self.timestamp_from_sql(value))
        converter.register_unstructure_hook(date, self.date_to_sql)
        converter.register_structure_hook(date, lambda value, _: self.date_from_sql(value))
        converter.register_unstructure_hook_func(_is_json_object, self.json_to_sql)
        converter.register_structure_hook_func(
            _is_json_object, lambda value, _: self._json_object(value)
        )
        converter.register_unstructure_hook(
            Money,
            lambda money: {"amount": self.decimal_to_sql(money.amount), "currency": money.currency},
        )
        converter.register_structure_hook(Money, lambda value, _: self._money(value))
        converter.register_structure_hook(InvoiceDraft, lambda value, _: self._draft(value))
        self.converter = converter

    # ---- what a dialect states ----------------------------------------------------------
    @abstractmethod
    def timestamp_to_sql(self, moment: datetime) -> Any:
        """A timezone-aware instant as the dialect stores it (ValueError if naive)."""

    @abstractmethod
    def timestamp_from_sql(self, value: Any) -> datetime:
        """A stored instant back as an aware datetime."""

    @abstractmethod
    def date_to_sql(self, day: date) -> Any: ...

    @abstractmethod
    def date_from_sql(self, value: Any) -> date: ...

    @abstractmethod
    def decimal_to_sql(self, amount: Decimal) -> Any:
        """An exact decimal amount, never through a float."""

    @abstractmethod
    def decimal_from_sql(self, value: Any) -> Decimal: ...

    @abstractmethod
    def stroops_to_sql(self, stroops: int) -> Any:
        """A stroop amount (up to 10^18) as stored in invoices."""

    @abstractmethod
    def json_to_sql(self, value: Any) -> Any:
        """A JSON document (object or array) as stored."""

    @abstractmethod
    def json_from_sql(self, value: Any) -> Any: ...

    @abstractmethod
    def amount_key(self, amount: Decimal) -> Any:
        """The marketplace's amount sort key for an invoice amount."""

    @abstractmethod
    def amount_bound(self, amount: Decimal, rounding: Literal["ceiling", "floor"]) -> Any:
        """A filter bound on ``amount_key``; a bound with more decimals than any stored amount
        is rounded inwards where the key is scaled (``ceiling`` for a lower bound)."""

    def sort_value_to_sql(self, value: SortValue) -> Any:
        """A keyset value in the form of its sort column."""
        if isinstance(value, datetime):
            return self.timestamp_to_sql(value)
        if isinstance(value, date):
            return self.date_to_sql(value)
        if isinstance(value, Decimal):
            return self.amount_key(value)
        return value

    # ---- shared shapes ------------------------------------------------------------------
    def invoice_params(self, invoice: Invoice) -> Params:
        row: Params = self.converter.unstructure(invoice)
        draft = row.pop("draft")
        money = draft.pop("amount")
        row.update(draft, amount=money["amount"], currency=money["currency"])
        target = invoice.funding_target_stroops
        row["funding_target_stroops"] = None if target is None else self.stroops_to_sql(target)
        row["funded_stroops"] = self.stroops_to_sql(invoice.funded_stroops)
        # Derived columns, rewritten with every write of the row: the marketplace's sort keys
        # (migration 0002) and the uniqueness key of the invoice number (migration 0003).
        row["funded_ratio_hundredths"] = funded_ratio_hundredths(invoice)
        row["amount_key"] = self.amount_key(invoice.draft.amount.amount)
        row["invoice_number_key"] = canonical_invoice_number(invoice.draft.invoice_number)
        # The folded buyer name the marketplace's name search compares (migration 0007).
        row["buyer_name_key"] = fold(invoice.draft.buyer_name)
        return row

    def invoice_from_row(self, row: Row) -> Invoice:
        draft = {name: row[name] for name in _DRAFT_COLUMNS}
        draft["amount"] = {"amount": row["amount"], "currency": row["currency"]}
        return self.converter.structure({**row, "draft": draft}, Invoice)

    def market_item_from_row(self, row: Row) -> MarketItem:
        """One marketplace row: the invoice's columns and its issuer's, prefixed ``issuer_``
        (all NULL when the SME has no profile: the join is an outer join)."""
        issuer = None
        if row.get("issuer_subject") is not None:
            issuer = SmeProfile(
                tenant_id=str(row["tenant_id"]),
                subject=str(row["issuer_subject"]),
                display_name=str(row["issuer_display_name"]),
                country=str(row["issuer_country"]),
                updated_at=self.timestamp_from_sql(row["issuer_updated_at"]),
            )
        return MarketItem(self.invoice_from_row(row), issuer)

    def transition_params(self, step: Transition) -> Params:
        params: Params = self.converter.unstructure(step)
        return params

    def transition_from_row(self, row: Row) -> Transition:
        return self.converter.structure(dict(row), Transition)

    def audit_params(self, event: AuditEvent) -> Params:
        params: Params = self.converter.unstructure(event)
        return params

    def audit_from_row(self, row: Row) -> AuditEvent:
        return self.converter.structure(dict(row), AuditEvent)

    def commitment_params(self, commitment: Commitment) -> Params:
        params: Params = self.converter.unstructure(commitment)
        return params

    def commitment_from_row(self, row: Row) -> Commitment:
        return self.converter.structure(dict(row), Commitment)

    def lock_from_row(self, tenant_id: str, row: Row) -> InvestorLock:
        """One (invoice, investor) group of the locks query, with the invoice's terms."""
        values = {
            **row,
            "tenant_id": tenant_id,
            "claim_not_before": row["due_date"],
            "investor_effective_yield_bps": row["yield_bps"],
        }
        return self.converter.structure(values, InvestorLock)

    def idempotency_params(self, record: IdempotencyRecord) -> Params:
        params: Params = self.converter.unstructure(record)
        del params["outcome"]  # written by ``outcome_params`` when the request completes
        return params

    def outcome_params(self, outcome: RecordedOutcome) -> Params:
        """The ``outcome`` column: the JSON document of ``sql.outcomes`` (migration 0004)."""
        return {"outcome": self.json_to_sql(outcome_document(outcome))}

    def idempotency_from_row(self, row: Row) -> IdempotencyRecord:
        values = {name: row[name] for name in row if name != "outcome"}
        record = self.converter.structure(values, IdempotencyRecord)
        if row["outcome"] is None:  # in progress, or completed before migration 0004
            return record
        outcome = outcome_from_document(self.json_from_sql(row["outcome"]))
        return attrs.evolve(record, outcome=outcome)

    # ---- helpers ------------------------------------------------------------------------
    def _json_object(self, value: Any) -> dict[str, Any]:
        document = self.json_from_sql(value)
        if not isinstance(document, dict):
            raise ValueError("Stored metadata is not a JSON object.")
        return document

    def _draft(self, value: Mapping[str, Any]) -> InvoiceDraft:
        """A stored draft, trusted: every invoice row was written from a checked
        ``InvoiceDraft`` (``invoice_params``), so its values already passed the draft's rules
        and are their normalised output; only the dialect's storage types are converted back.
        Checking each text field again on every read cost more than the rest of a marketplace
        page (docs/performance.md, "Hot path")."""
        return InvoiceDraft.trusted(
            invoice_number=value["invoice_number"],
            buyer_name=value["buyer_name"],
            amount=self._money(value["amount"]),
            issue_date=self.date_from_sql(value["issue_date"]),
            due_date=self.date_from_sql(value["due_date"]),
            yield_bps=value["yield_bps"],
            buyer_email=value["buyer_email"],
            buyer_tax_id=value["buyer_tax_id"],
            description=value["description"],
            metadata=self._json_object(value["metadata"]),
        )

    def _money(self, value: Mapping[str, Any]) -> Money:
        currency = str(value["currency"])
        return Money(quantize(self.decimal_from_sql(value["amount"]), currency), currency)


def require_aware(moment: datetime) -> datetime:
    """``moment`` if it names an instant; a naive time would be read in some zone by guess."""
    if moment.utcoffset() is None:
        raise ValueError("Timestamps must be timezone-aware.")
    return moment


def marketplace_params(query: MarketplaceQuery, rows: RowConverter) -> Params:
    """The parameters of a dialect's marketplace statements: filter bounds and the keyset in
    the form of their columns, and ``limit`` one more than the page size (the extra row tells
    whether another page follows)."""
    filters = query.filters

    def optional(value: Any, convert: Any) -> Any:
        return None if value is None else convert(value)

    values: Params = {
        "tenant_id": query.tenant_id,
        "yield_min": filters.yield_bps_min,
        "yield_max": filters.yield_bps_max,
        "maturity_from": optional(filters.maturity_from, rows.date_to_sql),
        "maturity_to": optional(filters.maturity_to, rows.date_to_sql),
        "ratio_min": filters.funded_ratio_min,
        "ratio_max": filters.funded_ratio_max,
        "amount_min": optional(filters.amount_min, lambda a: rows.amount_bound(a, "ceiling")),
        "amount_max": optional(filters.amount_max, lambda a: rows.amount_bound(a, "floor")),
        "currency": filters.currency,
        # Both investable statuses unless the search names some.
        "linked": not filters.statuses or InvoiceStatus.LINKED_ESCROW in filters.statuses,
        "partial": not filters.statuses or InvoiceStatus.PARTIALLY_FUNDED in filters.statuses,
        "search": None if filters.search is None else contains_pattern(filters.search),
        "limit": query.limit + 1,
        "offset": query.offset,
        "after_value": None,
        "after_id": None,
    }
    if query.after is not None:
        values["after_value"] = rows.sort_value_to_sql(query.after.value)
        values["after_id"] = query.after.id
    return values
