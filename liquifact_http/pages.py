"""List responses: a ``data`` array and a ``meta`` object about the page.

Each is a ``Representation``: the class builds the JSON the route sends and the schema the
OpenAPI document shows (``schemas.response_schema``), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from liquifact_core.commitments import (
    COMMITMENTS_LIMIT_MAX,
    LOCKS_LIMIT_MAX,
    CommitmentPage,
    CommitmentsQuery,
    LockPage,
    LocksQuery,
)
from liquifact_core.invoices import InvoiceListQuery, Transition
from liquifact_core.marketplace import PAGE_LIMIT_MAX
from liquifact_core.ports import Page as InvoicePage
from liquifact_core.services.marketplace import MarketplaceResult
from liquifact_http import representations as rep
from liquifact_http.response_fields import Representation, out
from liquifact_http.wire import unstructure


@attrs.frozen
class InvoicePageMeta(Representation):
    total: int = out({"minimum": 0, "description": "Matching invoices."})
    page: int = out({"minimum": 1})
    limit: int = out(like=(InvoiceListQuery, "limit"))
    total_pages: int = out({"minimum": 0})
    has_more: bool = out({"description": "True when a later page exists."})


@attrs.frozen
class InvoicePageBody(Representation):
    """One page of invoices, newest first."""

    component = "InvoiceList"

    data: list[rep.InvoiceBody] = out()
    meta: InvoicePageMeta = out()


def invoice_page(result: InvoicePage, wanted: InvoiceListQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/invoices``."""
    total_pages = (result.total + wanted.limit - 1) // wanted.limit
    body: dict[str, Any] = unstructure(
        InvoicePageBody(
            data=[rep.InvoiceBody.of(item) for item in result.items],
            meta=InvoicePageMeta(
                total=result.total,
                page=wanted.page,
                limit=wanted.limit,
                total_pages=total_pages,
                has_more=wanted.page < total_pages,
            ),
        )
    )
    return body


@attrs.frozen
class CountMeta(Representation):
    total: int = out({"minimum": 0})


@attrs.frozen
class HistoryBody(Representation):
    """Every lifecycle step of an invoice, oldest first."""

    component = "History"

    data: list[rep.TransitionBody] = out()
    meta: CountMeta = out()


def history(steps: Sequence[Transition]) -> dict[str, Any]:
    """The JSON of ``GET /v1/invoices/{id}/history``."""
    body: dict[str, Any] = unstructure(
        HistoryBody([rep.TransitionBody.of(step) for step in steps], CountMeta(len(steps)))
    )
    return body


@attrs.frozen
class MarketPageMeta(Representation):
    total: int = out({"minimum": 0, "description": "Every matching invoice."})
    limit: int = out({"minimum": 1, "maximum": PAGE_LIMIT_MAX})
    has_more: bool = out({"description": "True when nextCursor leads further."})
    next_cursor: str | None = out(
        {"description": "Pass as `cursor` for the next page; null on the last page."},
        nullable=True,
    )
    page: int | None = out(
        {"minimum": 1, "description": "Present in offset mode (when `page` was sent)."},
        omit_none=True,
    )


@attrs.frozen
class MarketPageBody(Representation):
    """One page of investable invoices."""

    component = "MarketplacePage"

    data: list[rep.MarketItemBody] = out()
    meta: MarketPageMeta = out()


def market_page(result: MarketplaceResult) -> dict[str, Any]:
    """The JSON of one page of the marketplace or of the investment opportunities."""
    body: dict[str, Any] = unstructure(
        MarketPageBody(
            data=[rep.MarketItemBody.of(item) for item in result.items],
            meta=MarketPageMeta(
                total=result.total,
                limit=result.limit,
                has_more=result.has_more,
                next_cursor=result.next_cursor,
                page=result.page,
            ),
        )
    )
    return body


@attrs.frozen
class LockPageMeta(Representation):
    total: int = out({"minimum": 0})
    page: int = out({"minimum": 1})
    limit: int = out({"minimum": 1, "maximum": LOCKS_LIMIT_MAX})
    has_more: bool = out()


@attrs.frozen
class LockPageBody(Representation):
    """Investor locks, by invoice id then funder address."""

    component = "InvestorLockList"

    data: list[rep.LockBody] = out()
    meta: LockPageMeta = out()


def lock_page(result: LockPage, wanted: LocksQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/investor/locks``."""
    page, limit = wanted.page, wanted.limit
    body: dict[str, Any] = unstructure(
        LockPageBody(
            data=[rep.LockBody.of(item) for item in result.items],
            meta=LockPageMeta(
                total=result.total, page=page, limit=limit, has_more=page * limit < result.total
            ),
        )
    )
    return body


@attrs.frozen
class CommitmentPageMeta(Representation):  # replaced by the shared PageMeta once it lands
    total: int = out({"minimum": 0, "description": "Matching commitments."})
    limit: int = out({"minimum": 1, "maximum": COMMITMENTS_LIMIT_MAX})
    has_more: bool = out({"description": "True when a later page exists."})
    next_cursor: str | None = out({"description": "Always null: offset paging."}, nullable=True)
    page: int = out({"minimum": 1})
    total_pages: int = out({"minimum": 0})


@attrs.frozen
class CommitmentPageBody(Representation):
    """Investor commitments one by one, newest first, each with its status."""

    component = "FundingIntentList"

    data: list[rep.CommitmentBody] = out()
    meta: CommitmentPageMeta = out()


def commitment_page(result: CommitmentPage, wanted: CommitmentsQuery) -> dict[str, Any]:
    """The JSON of one page of ``GET /v1/investor/commitments``."""
    total_pages = (result.total + wanted.limit - 1) // wanted.limit
    body: dict[str, Any] = unstructure(
        CommitmentPageBody(
            data=[rep.CommitmentBody.of(item) for item in result.items],
            meta=CommitmentPageMeta(
                total=result.total,
                limit=wanted.limit,
                has_more=wanted.page < total_pages,
                next_cursor=None,
                page=wanted.page,
                total_pages=total_pages,
            ),
        )
    )
    return body
