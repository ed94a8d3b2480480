"""Marketplace reads: searching investable invoices and the investment opportunities list."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from liquifact_core.errors import invoice_not_found
from liquifact_core.ids import parse_invoice_id
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import INVESTABLE
from liquifact_core.marketplace import (
    CursorCodec,
    MarketItem,
    MarketplaceQuery,
    MarketplaceSearch,
    OpportunitiesQuery,
    SortField,
    SortOrder,
)
from liquifact_core.ports import UnitOfWorkFactory

# Lifecycle and funding changes are published as InvoiceChanged (InvoiceService), profile
# changes as ProfileChanged (ProfileService); the shell's cache invalidation drops the tenant's
# cached marketplace reads on each.


@attrs.frozen
class MarketplaceResult:
    items: Sequence[MarketItem]  # each invoice with its issuer's profile (or None)
    total: int
    limit: int
    has_more: bool
    next_cursor: str | None
    page: int | None  # set in offset mode only


class MarketplaceService:
    def __init__(self, unit_of_work: UnitOfWorkFactory, cursor_secret: str) -> None:
        if len(cursor_secret) < 32:
            raise ValueError("The cursor secret must be at least 32 characters.")
        self._uow = unit_of_work
        self._codec = CursorCodec(cursor_secret.encode("utf-8"))

    def search(self, tenant_id: str, actor: Actor, search: MarketplaceSearch) -> MarketplaceResult:
        """One page of the tenant's investable invoices. Every principal of the tenant may
        search; a cursor from an earlier page continues exactly where that page ended."""
        del actor  # every role of the tenant sees the same marketplace
        after = None
        offset = 0
        if search.cursor is not None:
            after = self._codec.decode(tenant_id, search, search.cursor)
        elif search.page is not None:
            offset = (search.page - 1) * search.limit
        query = MarketplaceQuery(
            tenant_id=tenant_id,
            filters=search.filters,
            sort=search.sort,
            order=search.order,
            limit=search.limit,
            after=after,
            offset=offset,
            with_total=True,
        )
        with self._uow(tenant_id) as uow:
            page = uow.invoices.marketplace(query)
        next_cursor = None
        if page.has_more and page.items:
            next_cursor = self._codec.encode(tenant_id, search, page.items[-1].invoice)
        assert page.total is not None
        return MarketplaceResult(
            items=page.items,
            total=page.total,
            limit=search.limit,
            has_more=page.has_more,
            next_cursor=next_cursor,
            page=search.page,
        )

    def opportunities(
        self, tenant_id: str, actor: Actor, query: OpportunitiesQuery | None = None
    ) -> MarketplaceResult:
        """Investable invoices, newest first, by page number."""
        query = query or OpportunitiesQuery()
        search = MarketplaceSearch(
            sort=SortField.CREATED_AT, order=SortOrder.DESC, limit=query.limit, page=query.page
        )
        return self.search(tenant_id, actor, search)

    def item(self, tenant_id: str, actor: Actor, invoice_id: str) -> MarketItem:
        """One investable invoice of the tenant as the marketplace lists it, with its issuer's
        profile (None when the SME has none): what an investor may read of one invoice.

        Raises ValidationError for a malformed id and NotFound for an invoice that does not
        exist, is deleted or is not investable (``INVESTABLE``): hidden and missing look alike.
        """
        del actor  # every role of the tenant sees the same marketplace
        parse_invoice_id(invoice_id)
        with self._uow(tenant_id) as uow:
            invoice = uow.invoices.get(tenant_id, invoice_id)
            if invoice is None or invoice.status not in INVESTABLE:
                raise invoice_not_found(invoice_id)
            issuer = uow.profiles.get(tenant_id, invoice.sme_id)
        return MarketItem(invoice, issuer)
