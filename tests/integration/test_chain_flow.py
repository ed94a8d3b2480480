"""The chain pieces of issue 12 together, through the library entry point: ``open_services``
with a Soroban RPC URL wires the real adapter, which talks over HTTP to the Soroban peer
(tests/soroban_peer) where real ``fund`` transactions, signed by investors with stellar-sdk,
land. A link is checked against the contract, the indexer moves the invoice from
``linked_escrow`` to ``partially_funded`` to ``funded``, the escrow view shows the amounts,
and reconciliation finds no drift until the peer's books are made to diverge.

Not yet covered here (issue 12 is open): the delegated and custodial signing modes, and the
same flow over real server processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liquifact_adapters import open_services
from liquifact_adapters.composition import ServicesConfig
from liquifact_core.errors import Unprocessable
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from tests.contract.test_escrow_ledger_contract import PeerWorld
from tests.factories import invoice_draft, link_of, new_tenant
from tests.soroban_peer import PASSPHRASE, PeerServer

ADMIN = Actor("admin-1", Role.ADMIN)
SME = Actor("sme-1", Role.SME)
TARGET = 1_000 * 10**7  # stroops


@pytest.fixture
def services(soroban_peer: PeerServer, tmp_path: Path) -> Iterator[Services]:
    opened = open_services(
        ServicesConfig(
            database_url=f"sqlite:///{tmp_path / 'chain.db'}",
            soroban_rpc_url=soroban_peer.url,
            network_passphrase=PASSPHRASE,
        )
    )
    yield opened
    opened.close()


@pytest.fixture
def chain(soroban_peer: PeerServer) -> Iterator[PeerWorld]:
    """Escrows on the peer and real signed ``fund`` transactions into them."""
    world = PeerWorld(soroban_peer)
    yield world
    world.ledger.close()
    world.rpc.close()


def _approved(services: Services, tenant: str) -> str:
    invoice = services.invoices.submit(tenant, SME, invoice_draft())
    services.invoices.approve(tenant, ADMIN, invoice.id)
    return invoice.id


def test_link_index_view_and_reconcile_against_the_peer(
    services: Services, soroban_peer: PeerServer, chain: PeerWorld
) -> None:
    tenant = new_tenant()
    assert services.indexer is not None  # the composition built one from the RPC URL

    # A contract whose invoice id is another invoice's is refused; ours is linked.
    invoice_id = _approved(services, tenant)
    stranger = chain.create_escrow("inv_someone_else", TARGET)
    with pytest.raises(Unprocessable) as refused:
        services.invoices.link_escrow(tenant, ADMIN, invoice_id, link_of(stranger, str(TARGET)))
    assert refused.value.code == "ESCROW_INVOICE_MISMATCH"
    contract = chain.create_escrow(invoice_id, TARGET)
    linked = services.invoices.link_escrow(
        tenant, ADMIN, invoice_id, link_of(contract, str(TARGET))
    )
    assert linked.status is InvoiceStatus.LINKED_ESCROW

    chain.fund(contract, 400 * 10**7)
    services.indexer.run_once()
    invoice = services.invoices.get(tenant, ADMIN, invoice_id)
    assert (invoice.status, invoice.funded_stroops) == (
        InvoiceStatus.PARTIALLY_FUNDED,
        400 * 10**7,
    )

    chain.fund(contract, 600 * 10**7)
    services.indexer.run_once()
    assert services.invoices.get(tenant, ADMIN, invoice_id).status is InvoiceStatus.FUNDED
    view = services.escrows.view(tenant, ADMIN, invoice_id)
    assert view.projection.reading.escrow.funded_amount == TARGET
    assert view.figures.remaining_capacity == 0
    history = services.invoices.history(tenant, ADMIN, invoice_id)
    assert [step.to_status for step in history][-2:] == [
        InvoiceStatus.PARTIALLY_FUNDED,
        InvoiceStatus.FUNDED,
    ]

    agreeing = services.reconciliation.reconcile(tenant)
    assert (agreeing.summary.total, agreeing.summary.mismatches) == (1, 0)
    assert not agreeing.alerted

    # The peer's books diverge from ours (no event): reconciliation reports the drift.
    soroban_peer.control.set_fields(contract, funded_amount=TARGET + 5)
    drifting = services.reconciliation.reconcile(tenant)
    assert (drifting.summary.mismatches, drifting.summary.total_drift) == (1, 5)
    assert drifting.alerted
