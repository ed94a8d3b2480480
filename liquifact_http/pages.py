"""List responses: a ``data`` array and a ``meta`` object about the page.

Each is a ``Representation``: the class builds the JSON the route sends and the schema the
OpenAPI document shows (``schemas.response_schema``), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from liquifact_core.commitments import CommitmentPage, CommitmentsQuery, LockPage, LocksQuery
from liquifact_core.invoices import InvoiceListQuery, Transition
from liquifact_core.ports import Page as InvoicePage
from liquifact_core.services.marketplace import MarketplaceResult
from liquifact_http import representations as rep
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure


@attrs.frozen
class PageMeta(Representation):
    """The ``meta`` of every list response: one shape for every list route (issue 10).

    Offset mode (the client sent or may send ``page``): ``page`` and ``totalPages`` are present.
    Cursor mode (the marketplace without ``page``): they are absent. ``nextCursor`` leads to the
    next page on lists that page by cursor (the marketplace, in both modes, so a client may
    switch to cursors); lists that page only by number send null. ``hasMore`` is true exactly
    when a later page exists.
    """

    component = "PageMeta"

    total: int = out({"minimum": 0, "description": "Every matching item, on all pages."})
    limit: int = out({"minimum": 1, "description": "The most items a page holds."})
    has_more: bool = out({"description": "True when a later page exists."})
    next_cursor: str | None = out(
        {
            "description": "Pass as `cursor` for the next page; null on the last page and on "
            "lists that page only by number."
        },
        nullable=True,
    )
    page: int | None = out(
        {"minimum": 1, "description": "The page number, from 1; offset mode only."},
        omit_none=True,
    )
    total_pages: int | None = out(
        {"minimum": 0, "description": "ceil(total / limit); offset mode only."}, omit_none=True
    )

    @classmethod
    def by_number(
        cls, total: int, page: int, limit: int, next_cursor: str | None = None
    ) -> PageMeta:
        """Offset mode: page ``page`` (from 1) of ``limit`` items out of ``total``."""
        total_pages = -(-total // limit)
        return cls(total, limit, page < total_pages, next_cursor, page, total_pages)

    @classmethod
    def by_cursor(cls, total: int, limit: int, next_cursor: str | None) -> PageMeta:
        """Cursor mode: ``next_cursor`` is None on the last page."""
        return cls(total, limit, next_cursor is not None, next_cursor)

    @classmethod
    def whole(cls, total: int) -> PageMeta:
        """An unpaged list (e.g. an invoice's history): one page holding all ``total`` items."""
        return cls.by_number(total, 1, max(total, 1))


def numbered_page(
    body: Callable[[list[Any], PageMeta], Representation],
    items: list[Any],
    total: int,
    page: int,
    limit: int,
) -> dict[str, Any]:
    """The JSON of page ``page`` (from 1) of a list paged only by number: ``body`` (the list's
    class) holding ``items`` (rendered), with ``PageMeta.by_number``."""
    json: dict[str, Any] = unstructure(body(items, PageMeta.by_number(total, page, limit)))
    return json


@attrs.frozen
class InvoicePageBody(Representation):
    """One page of invoices, newest first."""

    component = "InvoiceList"

    data: list[rep.InvoiceBody] = out()
    meta: PageMeta = out()


def invoice_page(result: InvoicePage, wanted: InvoiceListQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/invoices``."""
    items = [rep.InvoiceBody.of(item) for item in result.items]
    return numbered_page(InvoicePageBody, items, result.total, wanted.page, wanted.limit)


@attrs.frozen
class HistoryBody(Representation):
    """Every lifecycle step of an invoice, oldest first."""

    component = "History"

    data: list[rep.TransitionBody] = out()
    meta: PageMeta = out()


@attrs.frozen
class PublicHistoryBody(Representation):
    """An investable invoice's state changes, oldest first: no actors, no reasons."""

    component = "PublicHistory"

    data: list[rep.PublicTransitionBody] = out()
    meta: PageMeta = out()


def history(steps: Sequence[Transition], *, public: bool = False) -> dict[str, Any]:
    """The JSON of ``GET /v1/invoices/{id}/history``; ``public`` (investors) leaves out who
    took each step and why."""
    meta = PageMeta.whole(len(steps))
    page: Representation
    if public:
        page = PublicHistoryBody([rep.PublicTransitionBody.of(step) for step in steps], meta)
    else:
        page = HistoryBody([rep.TransitionBody.of(step) for step in steps], meta)
    body: dict[str, Any] = unstructure(page)
    return body


@attrs.frozen
class MarketPageBody(Representation):
    """One page of investable invoices."""

    component = "MarketplacePage"

    data: list[rep.MarketItemBody] = out()
    meta: PageMeta = out()


def market_page(result: MarketplaceResult) -> dict[str, Any]:
    """The JSON of one page of the marketplace or of the investment opportunities."""
    body: dict[str, Any] = unstructure(
        MarketPageBody(
            data=[rep.MarketItemBody.of(item) for item in result.items],
            meta=(
                PageMeta.by_cursor(result.total, result.limit, result.next_cursor)
                if result.page is None
                else PageMeta.by_number(result.total, result.page, result.limit, result.next_cursor)
            ),
        )
    )
    return body


@attrs.frozen
class LockPageBody(Representation):
    """Investor locks, by invoice id then funder address."""

    component = "InvestorLockList"

    data: list[rep.LockBody] = out()
    meta: PageMeta = out()


def lock_page(result: LockPage, wanted: LocksQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/investor/locks``."""
    items = [rep.LockBody.of(item) for item in result.items]
    return numbered_page(LockPageBody, items, result.total, wanted.page, wanted.limit)


@attrs.frozen
class CommitmentPageBody(Representation):
    """Investor commitments one by one, newest first, each with its status."""

    component = "FundingIntentList"

    data: list[rep.CommitmentBody] = out()
    meta: PageMeta = out()


def commitment_page(result: CommitmentPage, wanted: CommitmentsQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/investor/commitments`` (offset paging: ``nextCursor``
    is always null)."""
    items = [rep.CommitmentBody.of(item) for item in result.items]
    return numbered_page(CommitmentPageBody, items, result.total, wanted.page, wanted.limit)
