"""The marketplace: which investable invoices a search returns, in what order, and the
signed keyset cursors that page through them.

A cursor names the last row a page returned (its sort value and id) plus what the search was
(tenant, sort, order, filters), and is HMAC-SHA256 signed. Keyset paging (``WHERE (value, id) >
(last value, last id)``) never skips or repeats a row when rows are added or removed between
pages, unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs

from liquifact_core.amounts import parse_decimal_text
from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.ids import is_invoice_id
from liquifact_core.invoices import Invoice
from liquifact_core.lifecycle import INVESTABLE, InvoiceStatus
from liquifact_core.profiles import SmeProfile
from liquifact_core.rules import (
    Checked,
    Currency,
    Cursor,
    Day,
    DecimalAmount,
    OneOf,
    Percent,
    QueryInteger,
    SetOf,
    Text,
    query_error,
    rule_field,
    wire_name,
)
from liquifact_core.search import fold

PAGE_LIMIT_MAX = 100
PAGE_LIMIT_DEFAULT = 10
PAGE_MAX = 1_000_000
SEARCH_MAX = 100  # characters of ``q`` once trimmed
RATIO_SCALE = 100  # funded ratios are compared in hundredths of a percent (0..10000)
_CURSOR_VERSION = 1


class SortField(enum.StrEnum):
    YIELD_BPS = "yield_bps"
    MATURITY_DATE = "maturity_date"
    FUNDED_RATIO = "funded_ratio"
    AMOUNT = "amount"
    CREATED_AT = "created_at"


class SortOrder(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


class InvestableStatus(enum.StrEnum):
    """The statuses a marketplace search may ask for (``lifecycle.INVESTABLE``)."""

    LINKED_ESCROW = InvoiceStatus.LINKED_ESCROW.value
    PARTIALLY_FUNDED = InvoiceStatus.PARTIALLY_FUNDED.value


assert {InvoiceStatus(status.value) for status in InvestableStatus} == set(INVESTABLE)


SortValue = int | date | Decimal | datetime


def funded_ratio_hundredths(invoice: Invoice) -> int:
    """The funded ratio in hundredths of a percent (0..10000); 0 before an escrow is linked."""
    ratio = invoice.funded_ratio
    return 0 if ratio is None else int(ratio * RATIO_SCALE)


def sort_value(invoice: Invoice, field: SortField) -> SortValue:
    """The value an invoice is ordered by for ``field``."""
    if field is SortField.YIELD_BPS:
        return invoice.draft.yield_bps
    if field is SortField.MATURITY_DATE:
        return invoice.draft.due_date
    if field is SortField.FUNDED_RATIO:
        return funded_ratio_hundredths(invoice)
    if field is SortField.AMOUNT:
        return invoice.draft.amount.amount
    return invoice.created_at


@attrs.frozen
class MarketplaceFilters:
    """Inclusive bounds; None means unbounded. Ratios in hundredths of a percent.

    Amount bounds compare the invoice amount as a number, whatever its currency (no
    conversion happens). ``currency`` keeps one currency's invoices; ``statuses`` keeps those
    investable statuses (empty: both). ``search`` is a folded search key (``search.fold``):
    an invoice matches when its buyer name or its issuer's display name, folded, contains it.
    """

    yield_bps_min: int | None = None
    yield_bps_max: int | None = None
    maturity_from: date | None = None
    maturity_to: date | None = None
    funded_ratio_min: int | None = None
    funded_ratio_max: int | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    currency: str | None = None
    statuses: frozenset[InvoiceStatus] = frozenset()
    search: str | None = None

    def matches(self, invoice: Invoice, issuer: SmeProfile | None = None) -> bool:
        """True when ``invoice`` (whose SME has the profile ``issuer``, if any) lies within
        every bound and filter (the stores' WHERE clause, in Python)."""
        checks: list[tuple[Any, Any, Any]] = [
            (self.yield_bps_min, self.yield_bps_max, invoice.draft.yield_bps),
            (self.maturity_from, self.maturity_to, invoice.draft.due_date),
            (self.funded_ratio_min, self.funded_ratio_max, funded_ratio_hundredths(invoice)),
            (self.amount_min, self.amount_max, invoice.draft.amount.amount),
        ]
        within = all(
            (low is None or value >= low) and (high is None or value <= high)
            for low, high, value in checks
        )
        return (
            within
            and self.currency in (None, invoice.draft.amount.currency)
            and (not self.statuses or invoice.status in self.statuses)
            and (self.search is None or self._found(invoice, issuer, self.search))
        )

    @staticmethod
    def _found(invoice: Invoice, issuer: SmeProfile | None, key: str) -> bool:
        if key in fold(invoice.draft.buyer_name):
            return True
        return issuer is not None and key in issuer.display_name_key

    def canonical(self) -> str:
        """A stable text form: equal filters give equal text (cursors are bound to it).

        The filters added after the first cursors were issued (currency, statuses, search)
        appear only when set, so cursors of searches without them keep their meaning."""
        parts: dict[str, Any] = {}
        for name, value in attrs.asdict(self, recurse=False).items():
            if name in _LATER_FILTERS:
                if value:
                    parts[name] = _filter_text(value)
            else:
                parts[name] = None if value is None else _value_text(value)
        return json.dumps(parts, sort_keys=True, separators=(",", ":"))


_LATER_FILTERS = frozenset({"currency", "statuses", "search"})


def maintained_statuses(filters: MarketplaceFilters) -> frozenset[InvoiceStatus] | None:
    """The statuses whose maintained counts of live invoices add up to the total of a search
    with ``filters``: when statuses are its only filter (or it has none), the investable ones
    among them (every investable status when none is named; an empty set when none named is
    investable: the total is 0). None when another filter is set: that total is a count of
    the matching rows."""
    if attrs.evolve(filters, statuses=frozenset()) != _UNFILTERED:
        return None
    return (filters.statuses or INVESTABLE) & INVESTABLE


_UNFILTERED = MarketplaceFilters()


def _filter_text(value: str | frozenset[InvoiceStatus]) -> str | list[str]:
    return value if isinstance(value, str) else sorted(status.value for status in value)


@attrs.frozen
class Keyset:
    """Where the next page starts: strictly after the row with this sort value and id."""

    value: SortValue
    id: str


@attrs.frozen
class MarketplaceQuery:
    """One page of a tenant's investable invoices (``INVESTABLE`` statuses, live rows).

    Rows are ordered by ``sort`` then ``id``, both in ``order``. ``after`` (keyset) and
    ``offset`` may be combined but callers use one or the other.
    """

    tenant_id: str
    filters: MarketplaceFilters = MarketplaceFilters()
    sort: SortField = SortField.CREATED_AT
    order: SortOrder = SortOrder.DESC
    limit: int = PAGE_LIMIT_DEFAULT
    after: Keyset | None = None
    offset: int = 0
    with_total: bool = True


@attrs.frozen
class MarketItem:
    """One marketplace row: the invoice, and its SME's profile (None when the SME has none),
    read together by the store (one query, no lookup per row)."""

    invoice: Invoice
    issuer: SmeProfile | None = None


@attrs.frozen
class MarketplacePage:
    items: Sequence[MarketItem]
    has_more: bool  # another matching row follows the last item
    total: int | None  # every matching row, ignoring after/offset; None unless asked for

    @property
    def invoices(self) -> list[Invoice]:
        """The invoices of ``items``, in order."""
        return [item.invoice for item in self.items]


def ordering_key(invoice: Invoice, sort: SortField) -> tuple[Any, str]:
    return (sort_value(invoice, sort), invoice.id)


def page_in_memory(
    invoices: Sequence[Invoice], query: MarketplaceQuery, profiles: Iterable[SmeProfile] = ()
) -> MarketplacePage:
    """The reference semantics of ``InvoiceRepository.marketplace`` over a list of invoices
    and the SME profiles of the store (each invoice's issuer is the profile of its tenant and
    ``sme_id``)."""
    issuers = {(profile.tenant_id, profile.subject): profile for profile in profiles}
    matching = [
        MarketItem(invoice, issuers.get((invoice.tenant_id, invoice.sme_id)))
        for invoice in invoices
        if invoice.tenant_id == query.tenant_id
        and invoice.deleted_at is None
        and invoice.status in INVESTABLE
    ]
    matching = [item for item in matching if query.filters.matches(item.invoice, item.issuer)]
    descending = query.order is SortOrder.DESC
    matching.sort(key=lambda item: ordering_key(item.invoice, query.sort), reverse=descending)
    rows = matching
    if query.after is not None:
        boundary = (query.after.value, query.after.id)
        rows = [
            item
            for item in matching
            if (
                ordering_key(item.invoice, query.sort) < boundary
                if descending
                else ordering_key(item.invoice, query.sort) > boundary
            )
        ]
    window = rows[query.offset : query.offset + query.limit + 1]
    return MarketplacePage(
        items=window[: query.limit],
        has_more=len(window) > query.limit,
        total=len(matching) if query.with_total else None,
    )


# ---- a client's search --------------------------------------------------------------------
_BOUND_PAIRS = (
    ("yield_bps_min", "yield_bps_max"),
    ("maturity_from", "maturity_to"),
    ("funded_ratio_min", "funded_ratio_max"),
    ("amount_min", "amount_max"),
)


@attrs.frozen
class MarketplaceSearch(Checked):
    """A client's marketplace search (``GET /v1/marketplace``): inclusive filter bounds (a
    low bound above its high bound is INVALID_RANGE), the order, and which page: a cursor
    (``nextCursor`` of an earlier page; it wins over ``page``), a page number, or the first.

    Funded ratios are percentages (0-100, two decimals); amounts compare the invoice amount as
    a number whatever its currency. ``currency`` keeps one currency (ISO 4217); ``status``
    keeps the named investable statuses (repeatable; empty: both); ``q`` (1-100 characters
    once trimmed) keeps invoices whose buyer name or issuer display name contains it, case-
    and accent-insensitively (``search.fold``).
    """

    yield_bps_min: int | None = rule_field(QueryInteger(0, 10_000), default=None, optional=True)
    yield_bps_max: int | None = rule_field(QueryInteger(0, 10_000), default=None, optional=True)
    maturity_from: date | None = rule_field(
        Day(), wire="maturityDateFrom", default=None, optional=True
    )
    maturity_to: date | None = rule_field(Day(), wire="maturityDateTo", default=None, optional=True)
    funded_ratio_min: Decimal | None = rule_field(Percent(), default=None, optional=True)
    funded_ratio_max: Decimal | None = rule_field(Percent(), default=None, optional=True)
    amount_min: Decimal | None = rule_field(DecimalAmount(), default=None, optional=True)
    amount_max: Decimal | None = rule_field(DecimalAmount(), default=None, optional=True)
    currency: str | None = rule_field(Currency(), default=None, optional=True)
    status: frozenset[InvestableStatus] = rule_field(SetOf(InvestableStatus), default=frozenset())
    q: str | None = rule_field(Text(1, SEARCH_MAX, searchable=True), default=None, optional=True)
    sort: SortField = rule_field(OneOf(SortField), wire="sortBy", default=SortField.YIELD_BPS)
    order: SortOrder = rule_field(OneOf(SortOrder), default=SortOrder.DESC)
    limit: int = rule_field(QueryInteger(1, PAGE_LIMIT_MAX), default=PAGE_LIMIT_DEFAULT)
    page: int | None = rule_field(QueryInteger(1, PAGE_MAX), default=None, optional=True)
    cursor: str | None = rule_field(Cursor(), default=None, optional=True)

    def __attrs_post_init__(self) -> None:
        if self.cursor is not None and self.page is not None:
            object.__setattr__(self, "page", None)  # a cursor wins over a page number

    @classmethod
    def cross_field_errors(cls, parsed: Mapping[str, Any]) -> list[FieldError]:
        errors = []
        for low, high in _BOUND_PAIRS:
            lowest, highest = parsed.get(low), parsed.get(high)
            if lowest is not None and highest is not None and lowest > highest:
                low_field, high_field = (attrs.fields_dict(cls)[n] for n in (low, high))
                errors.append(
                    FieldError(
                        wire_name(high_field),
                        f"must not be less than {wire_name(low_field)}",
                        "INVALID_RANGE",
                    )
                )
        return errors

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return ValidationError("The marketplace query has invalid parameters.", field_errors=errors)

    @property
    def filters(self) -> MarketplaceFilters:
        """The bounds as the stores compare them (ratios in hundredths of a percent)."""
        return MarketplaceFilters(
            yield_bps_min=self.yield_bps_min,
            yield_bps_max=self.yield_bps_max,
            maturity_from=self.maturity_from,
            maturity_to=self.maturity_to,
            funded_ratio_min=_hundredths(self.funded_ratio_min),
            funded_ratio_max=_hundredths(self.funded_ratio_max),
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            currency=self.currency,
            statuses=frozenset(InvoiceStatus(status.value) for status in self.status),
            search=None if self.q is None else fold(self.q),
        )


def _hundredths(percent: Decimal | None) -> int | None:
    return None if percent is None else int(percent * RATIO_SCALE)


@attrs.frozen
class OpportunitiesQuery(Checked):
    """A page of investment opportunities (newest first): ``page`` from 1, ``limit`` 1-100."""

    page: int = rule_field(QueryInteger(1, PAGE_MAX), default=1)
    limit: int = rule_field(QueryInteger(1, PAGE_LIMIT_MAX), default=PAGE_LIMIT_DEFAULT)

    @classmethod
    def invalid(cls, errors: Sequence[FieldError]) -> ValidationError:
        return query_error(errors, "The opportunities query has invalid parameters.")


# ---- cursors ----------------------------------------------------------------------------------
def _value_text(value: SortValue | Decimal | date) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _value_from_text(sort: SortField, text: str) -> SortValue:
    if sort in (SortField.YIELD_BPS, SortField.FUNDED_RATIO):
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise ValueError("not a small integer")
        return int(text)
    if sort is SortField.MATURITY_DATE:
        return date.fromisoformat(text)
    if sort is SortField.AMOUNT:
        amount = parse_decimal_text(text)
        if -int(amount.as_tuple().exponent) > _AMOUNT_DECIMALS_MAX:
            raise ValueError("more decimals than any stored amount has")
        return amount
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError("naive timestamp")
    # Stores compare instants in UTC; one that leaves years 1-9999 there (0001-01-01T00:00+05:00)
    # cannot be a stored creation time: OverflowError, reported as INVALID_CURSOR (issue 9).
    moment.astimezone(UTC)
    return moment


# The most decimals of any ISO 4217 currency: no stored invoice amount has more.
_AMOUNT_DECIMALS_MAX = 4


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid_cursor(message: str, code: str = "INVALID_CURSOR") -> ValidationError:
    return ValidationError(
        f"cursor {message}", code=code, field_errors=[FieldError("cursor", message, code)]
    )


@attrs.frozen
class CursorCodec:
    """Signs and checks opaque cursors with an HMAC-SHA256 key."""

    secret: bytes = attrs.field(repr=False)

    def encode(self, tenant_id: str, search: MarketplaceSearch, last: Invoice | Keyset) -> str:
        keyset = (
            last if isinstance(last, Keyset) else Keyset(sort_value(last, search.sort), last.id)
        )
        payload = {
            "v": _CURSOR_VERSION,
            "t": tenant_id,
            "s": search.sort.value,
            "o": search.order.value,
            "f": hashlib.sha256(search.filters.canonical().encode()).hexdigest()[:32],
            "k": [_value_text(keyset.value), keyset.id],
        }
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def decode(self, tenant_id: str, search: MarketplaceSearch, cursor: str) -> Keyset:
        """The keyset a cursor names; 400 (ValidationError) when it was altered or was issued
        for another tenant, sort, order or filter set."""
        body_text, _, signature_text = cursor.partition(".")
        try:
            body, signature = _unb64(body_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            raise _invalid_cursor("is not a cursor issued by this API") from None
        if not hmac.compare_digest(signature, self._sign(body)):
            raise _invalid_cursor("is not a cursor issued by this API (signature mismatch)")
        try:
            payload = json.loads(body)
            value_text, invoice_id = payload["k"]
            keyset = Keyset(_value_from_text(SortField(payload["s"]), value_text), invoice_id)
        except (ValueError, KeyError, TypeError, OverflowError, ValidationError):
            raise _invalid_cursor("is not a cursor issued by this API") from None
        expected = self.encode(tenant_id, search, keyset)
        if payload.get("v") != _CURSOR_VERSION or not is_invoice_id(str(keyset.id)):
            raise _invalid_cursor("is not a cursor issued by this API")
        if expected.partition(".")[0] != body_text:
            raise _invalid_cursor(
                "belongs to another search: repeat the sortBy, order and filters of the "
                "request that returned it",
                "CURSOR_MISMATCH",
            )
        return keyset

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self.secret, b"liquifact-cursor:" + body, hashlib.sha256).digest()
