"""``InvoiceService.link_escrow`` with a ledger (the in-memory ``FakeEscrowLedger``) and the
``ESCROW_ADDR_BY_INVOICE`` mapping: the chain is read before the unit of work opens, refusals
change nothing, and the mapping decides which invoice may take which contract."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from stellar_sdk import Keypair

from liquifact_adapters.memory import FixedClock, InMemoryStore, SequentialIdGenerator
from liquifact_adapters.memory.fakes import FakeEscrowLedger
from liquifact_core.errors import InvalidTransition, NotFound, Unavailable, Unprocessable
from liquifact_core.escrow import EscrowReading, EscrowStatus, InvoiceEscrow
from liquifact_core.escrow_addresses import EscrowAddressBook, EscrowMapping
from liquifact_core.invoices import Actor
from liquifact_core.lifecycle import InvoiceStatus, Role
from liquifact_core.services import Services
from tests.factories import contract_address, draft_of, invoice_payload, link_of

ADMIN = Actor("admin_1", Role.ADMIN)
SME = Actor("sme_1", Role.SME)
TARGET = 12_500_000_000


class CountingLedger(FakeEscrowLedger):
    """The fake, counting its escrow reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_escrow(self, contract: str) -> EscrowReading:
        self.reads += 1
        return super().read_escrow(contract)


def escrow(ours: str, **changes: Any) -> EscrowReading:
    values: dict[str, Any] = {
        "invoice_id": ours,
        "admin": Keypair.random().public_key,
        "sme_address": Keypair.random().public_key,
        "amount": TARGET,
        "funding_target": TARGET,
        "funded_amount": 0,
        "yield_bps": 650,
        "maturity": 0,
        "status": EscrowStatus.OPEN,
    }
    values.update(changes)
    return EscrowReading(InvoiceEscrow(**values))


class World:
    def __init__(self, book: EscrowAddressBook | None = None, *, ledger: bool = True) -> None:
        self.store = InMemoryStore()
        self.ledger = CountingLedger() if ledger else None
        self.services = Services.from_ports(
            self.store,
            FixedClock(),
            SequentialIdGenerator(),
            ledger=self.ledger,
            escrow_addresses=book,
        )
        self.invoices = self.services.invoices
        self.tenant = f"t_{uuid.uuid4().hex[:12]}"

    def approved(self) -> str:
        invoice = self.invoices.submit(self.tenant, SME, draft_of(invoice_payload()))
        self.invoices.approve(self.tenant, ADMIN, invoice.id)
        return invoice.id

    def link(self, invoice_id: str, address: str, target: int = TARGET) -> Any:
        return self.invoices.link_escrow(
            self.tenant, ADMIN, invoice_id, link_of(address, str(target))
        )

    def status(self, invoice_id: str) -> InvoiceStatus:
        return self.invoices.get(self.tenant, ADMIN, invoice_id).status


def test_links_an_escrow_that_fits() -> None:
    world = World()
    invoice_id = world.approved()
    address = contract_address()
    assert world.ledger is not None
    world.ledger.put(address, escrow(invoice_id))

    linked = world.link(invoice_id, address)

    assert (linked.status, linked.escrow_address) == (InvoiceStatus.LINKED_ESCROW, address)
    assert world.ledger.reads == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"invoice_id": "inv_other"}, "ESCROW_INVOICE_MISMATCH"),
        ({"status": EscrowStatus.FUNDED}, "ESCROW_NOT_OPEN"),
        ({"funding_target": TARGET - 1}, "ESCROW_FUNDING_TARGET_MISMATCH"),
    ],
)
def test_refuses_an_escrow_that_does_not_fit(changes: dict[str, Any], code: str) -> None:
    world = World()
    invoice_id = world.approved()
    address = contract_address()
    assert world.ledger is not None
    world.ledger.put(address, escrow(invoice_id, **changes))

    with pytest.raises(Unprocessable) as raised:
        world.link(invoice_id, address)

    assert raised.value.code == code
    assert world.status(invoice_id) is InvoiceStatus.APPROVED


def test_an_unknown_address_and_a_chain_outage_change_nothing() -> None:
    world = World()
    invoice_id = world.approved()
    with pytest.raises(Unprocessable) as raised:
        world.link(invoice_id, contract_address())
    assert raised.value.code == "ESCROW_NOT_RECOGNISED"

    assert world.ledger is not None
    world.ledger.fail_with(Unavailable("down", retryable=True))
    with pytest.raises(Unavailable) as down:
        world.link(invoice_id, contract_address())

    assert down.value.retryable is True
    assert world.status(invoice_id) is InvoiceStatus.APPROVED


def test_a_link_that_cannot_happen_asks_nothing_of_the_chain() -> None:
    world = World()
    pending = world.invoices.submit(world.tenant, SME, draft_of(invoice_payload())).id
    assert world.ledger is not None

    with pytest.raises(InvalidTransition):
        world.link(pending, contract_address())
    with pytest.raises(NotFound):
        world.link("inv_missing", contract_address())

    assert world.ledger.reads == 0


def test_without_a_ledger_the_link_is_recorded_as_given() -> None:
    world = World(ledger=False)
    invoice_id = world.approved()

    assert world.link(invoice_id, contract_address()).status is InvoiceStatus.LINKED_ESCROW


def book(*mappings: EscrowMapping, allowlist: bool = True) -> EscrowAddressBook:
    return EscrowAddressBook(
        mappings=mappings, environment="test", allowlist_enabled=allowlist, configured=True
    )


def test_the_mapping_binds_an_invoice_to_its_address_and_resolves_it() -> None:
    mapped = contract_address()
    world = World(ledger=False)
    invoice_id = world.approved()
    world = _with_book(world, book(EscrowMapping(invoice_id, mapped, "test")))

    assert world.invoices.escrow_address(world.tenant, ADMIN, invoice_id) == mapped
    with pytest.raises(Unprocessable) as raised:
        world.link(invoice_id, contract_address())
    assert raised.value.code == "ESCROW_ADDRESS_NOT_MAPPED"

    linked = world.link(invoice_id, mapped)
    assert linked.escrow_address == mapped


def test_the_allow_list_refuses_unmapped_invoices_unless_disabled() -> None:
    other = EscrowMapping("inv_other", contract_address(), "test")
    strict = World(book(other), ledger=False)
    with pytest.raises(Unprocessable) as raised:
        strict.link(strict.approved(), contract_address())
    assert raised.value.code == "ESCROW_NOT_ALLOWLISTED"

    lenient = World(book(other, allowlist=False), ledger=False)
    invoice_id = lenient.approved()
    assert lenient.link(invoice_id, contract_address()).status is InvoiceStatus.LINKED_ESCROW


def test_inactive_and_other_environment_mappings_do_not_apply() -> None:
    world = World(ledger=False)
    invoice_id = world.approved()
    world = _with_book(
        world,
        book(
            EscrowMapping(invoice_id, contract_address(), "test", is_active=False),
            EscrowMapping(invoice_id, contract_address(), "production"),
            allowlist=False,
        ),
    )

    assert world.invoices.escrow_address(world.tenant, ADMIN, invoice_id) is None
    assert world.link(invoice_id, contract_address()).status is InvoiceStatus.LINKED_ESCROW


def _with_book(world: World, address_book: EscrowAddressBook) -> World:
    """The same store and tenant, served with ``address_book``."""
    services = Services.from_ports(
        world.store, FixedClock(), SequentialIdGenerator(), escrow_addresses=address_book
    )
    world.services, world.invoices = services, services.invoices
    return world
