"""KYC over HTTP against a real local provider peer (tests/kyc_provider_peer.py): starting a
verification submits it to the peer (its API key, our reference), the signed webhook is
refused with a bad signature, an old timestamp or a replayed id and applied when good, and
funding by an unverified investor is refused then succeeds once the webhook verified them.
Also: admins' reads and audited exemptions, the SME gate on escrow links, contacts, and
/ready naming the provider. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from liquifact_adapters.composition import job_handlers, open_worker
from liquifact_core.kyc import KYC_SUBMISSION
from liquifact_core.webhooks import signature_header
from liquifact_http.bootstrap import create_app
from tests.auth_helpers import bearer, test_settings
from tests.factories import account_address, contract_address, invoice_payload, new_tenant
from tests.http.conftest import HTTP_STORES
from tests.http.openapi_validation import assert_matches_openapi
from tests.kyc_provider_peer import KycProviderPeer

API_KEY = "provider-api-key-0001"
SECRET = "provider-webhook-secret-0001"
FUND = "/v1/invest/fund-invoice"
WEBHOOK = "/v1/kyc/webhook"


@pytest.fixture
def peer() -> Iterator[KycProviderPeer]:
    with KycProviderPeer(API_KEY, SECRET) as running:
        yield running


@pytest.fixture
def app(
    http_store_kind: str, request: pytest.FixtureRequest, tmp_path: Path, peer: KycProviderPeer
) -> Iterator[Starlette]:
    store = HTTP_STORES[http_store_kind](request, tmp_path)
    settings = test_settings(
        kyc_provider_url=peer.url, kyc_provider_api_key=API_KEY, kyc_provider_secret=SECRET
    )
    yield create_app(settings, store=store)
    store.close()


@attrs.define
class World:
    client: TestClient
    app: Starlette
    peer: KycProviderPeer
    tenant: str
    wallet: str

    @property
    def admin(self) -> dict[str, str]:
        return bearer("admin", self.tenant, "ops")

    @property
    def sme(self) -> dict[str, str]:
        return bearer("sme", self.tenant, "sme-1")

    @property
    def investor(self) -> dict[str, str]:
        return bearer("investor", self.tenant, "investor-1", wallet=self.wallet)

    def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert_matches_openapi(response)
        return response

    def run_jobs(self) -> int:
        """Run the due KYC submission jobs (only those: on PostgreSQL the store is shared
        with earlier tests, whose other jobs may still be due)."""
        services = self.app.state.services
        handlers = {KYC_SUBMISSION: job_handlers(services)[KYC_SUBMISSION]}
        return open_worker(services, handlers, schedules=False).drain()

    def approved_invoice(self) -> str:
        created = self.call("POST", "/v1/invoices", 201, json=invoice_payload(), headers=self.sme)
        invoice_id: str = created.json()["id"]
        self.call("POST", f"/v1/invoices/{invoice_id}/approve", 200, headers=self.admin)
        return invoice_id

    def link(self, invoice_id: str, status: int = 200) -> Any:
        body = {"escrowAddress": contract_address(), "fundingTargetStroops": "100000"}
        return self.call(
            "POST", f"/v1/invoices/{invoice_id}/link-escrow", status, json=body, headers=self.admin
        )

    def fund(self, invoice_id: str, key: str, status: int) -> Any:
        body = {"invoiceId": invoice_id, "investorAddress": self.wallet, "amountStroops": "500"}
        return self.call(
            "POST", FUND, status, json=body, headers={**self.investor, "Idempotency-Key": key}
        )

    def webhook(self, raw: bytes, headers: Any, status: int, path: str = WEBHOOK) -> Any:
        return self.call("POST", path, status, content=raw, headers=dict(headers))


@pytest.fixture
def world(app: Starlette, peer: KycProviderPeer) -> Iterator[World]:
    with TestClient(app) as client:
        yield World(client, app, peer, new_tenant(), account_address())


def test_funding_is_refused_until_the_provider_verifies_the_investor(world: World) -> None:
    # The SME is verified through the provider too (its event names it by its reference).
    world.call("POST", "/v1/kyc/me/verification", 202, headers=world.sme)
    assert world.run_jobs() == 1
    sme_reference = world.peer.submissions[0]["reference"]
    world.webhook(*world.peer.event(sme_reference, "approved"), 200)
    invoice_id = world.approved_invoice()
    world.link(invoice_id)

    refused = world.fund(invoice_id, "key-investor-0001", 403)
    assert refused.json()["code"] == "INVESTOR_KYC_NOT_VERIFIED"
    assert "not started" in refused.json()["detail"]

    started = world.call("POST", "/v1/kyc/me/verification", 202, headers=world.investor)
    assert started.json()["status"] == "pending"
    assert world.run_jobs() == 1
    submission = world.peer.submissions[1]
    assert submission["subjectType"] == "investor" and submission["reference"].startswith("kyc_")
    mine = world.call("GET", "/v1/kyc/me", 200, headers=world.investor).json()
    assert (mine["status"], mine["provider"], mine["recorded"]) == ("pending", "http", True)
    assert mine["verificationUrl"] == "https://kyc.example/flow/2"
    assert world.fund(invoice_id, "key-investor-0001", 403).json()["code"] == (
        "INVESTOR_KYC_NOT_VERIFIED"
    )

    reference = submission["reference"]
    now = datetime.now(UTC)
    bad = world.webhook(*world.peer.event(reference, "approved", secret="x" * 32), 401)
    assert bad.json()["code"] == "KYC_SIGNATURE_INVALID"
    assert bad.headers["WWW-Authenticate"].startswith("Signature")
    old = world.peer.event(reference, "approved", at=now - timedelta(minutes=10))
    assert world.webhook(*old, 401).json()["code"] == "KYC_SIGNATURE_EXPIRED"
    raw, headers = world.peer.event(reference, "approved", providerReference="app-2")
    tampered = raw.replace(b"approved", b"approvee")
    assert world.webhook(tampered, headers, 401).json()["code"] == "KYC_SIGNATURE_INVALID"
    assert world.fund(invoice_id, "key-investor-0001", 403).status_code == 403

    applied = world.webhook(raw, headers, 200).json()
    assert applied == {"reference": reference, "status": "verified"}
    replayed = world.webhook(raw, headers, 409)
    assert replayed.json()["code"] == "KYC_EVENT_REPLAYED"

    funded = world.fund(invoice_id, "key-investor-0001", 201)
    assert funded.json()["amountStroops"] == "500"
    record = world.call("GET", "/v1/admin/kyc/investor-1", 200, headers=world.admin).json()
    assert record["status"] == "verified" and record["providerReference"] == "app-2"
    assert [(c["source"], c["status"]) for c in record["history"]] == [
        ("submission", "pending"),
        ("submission", "pending"),
        ("provider", "verified"),
    ]


def test_the_spec_alias_takes_signed_events_and_is_marked_deprecated(world: World) -> None:
    world.call("POST", "/v1/kyc/me/verification", 202, headers=world.sme)
    world.run_jobs()
    reference = world.peer.submissions[0]["reference"]
    answered = world.webhook(*world.peer.event(reference, "declined", reason="Blurry"), 200,
                             path="/api/kyc/webhook")  # fmt: skip
    assert answered.json()["status"] == "rejected"
    assert "Deprecation" in answered.headers
    unknown = world.webhook(*world.peer.event(reference, "maybe"), 422)
    assert unknown.json()["code"] == "KYC_STATUS_UNKNOWN"
    nobody = world.webhook(*world.peer.event("kyc_nosuchreference", "approved"), 404)
    assert nobody.json()["code"] == "KYC_REFERENCE_UNKNOWN"
    # Signed but not a KYC event (an unknown field): refused for its shape, after the signature.
    raw = b'{"eventId": "evt-x", "reference": "%s", "status": "approved", "extra": 1}' % (
        reference.encode()
    )
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature_header(SECRET, raw, datetime.now(UTC)),
    }
    assert world.webhook(raw, headers, 400).json()["errors"][0]["field"] == "extra"


def test_linking_needs_the_sme_verified_or_exempted_and_exemptions_are_audited(
    world: World,
) -> None:
    invoice_id = world.approved_invoice()
    refused = world.link(invoice_id, 403)
    assert refused.json()["code"] == "SME_KYC_NOT_VERIFIED"
    world.call("GET", "/v1/admin/kyc/sme-1", 404, headers=world.admin)

    exempted = world.call(
        "POST",
        "/v1/admin/kyc/sme-1/exempt",
        200,
        json={"reason": "Listed company, KYB done offline"},
        headers=world.admin,
    ).json()
    assert (exempted["status"], exempted["reason"]) == (
        "exempted",
        "Listed company, KYB done offline",
    )
    assert world.link(invoice_id).json()["status"] == "linked_escrow"
    world.call("POST", "/v1/admin/kyc/sme-1/exempt", 403, json={"reason": "x"}, headers=world.sme)
    world.call("POST", "/v1/admin/kyc/sme-1/exempt", 400, json={}, headers=world.admin)
    world.call("GET", "/v1/admin/kyc/two%20words", 400, headers=world.admin)
    with world.app.state.services.store.read_unit(world.tenant) as uow:
        audit = uow.audit.for_resource(world.tenant, "kyc_subject", "sme-1")
    assert [(e.action, e.actor_id) for e in audit] == [("kyc.exempted", "ops")]


def test_ready_asks_the_provider(world: World) -> None:
    ready = world.call("GET", "/ready", 200).json()
    assert ready["checks"]["kyc"]["status"] == "up"
    assert ready["kyc"] == {"provider": "http"}
    world.peer.healthy = False
    down = world.call("GET", "/ready", 503).json()
    assert down["checks"]["kyc"] == {"status": "down", "error": "unavailable"}
    assert world.call("GET", "/readyz", 200).json()["status"] == "ready"


def test_contacts_are_set_and_read_by_their_owner(world: World) -> None:
    world.call("GET", "/v1/me/contact", 404, headers=world.investor)
    world.call("PUT", "/v1/me/contact", 400, json={"email": "nope"}, headers=world.investor)
    put = world.call(
        "PUT", "/v1/me/contact", 200, json={"email": "inv@example.com"}, headers=world.investor
    ).json()
    assert put["email"] == "inv@example.com"
    got = world.call("GET", "/v1/me/contact", 200, headers=world.investor).json()
    assert got == put
    world.call("GET", "/v1/me/contact", 403, headers=world.admin)


def test_without_a_provider_the_mock_decides_and_ready_says_so(tmp_path: Path) -> None:
    store = HTTP_STORES["sqlite"](None, tmp_path)  # type: ignore[arg-type]
    app = create_app(test_settings(kyc_mock_default_status=None), store=store)
    tenant = new_tenant()
    with TestClient(app) as client:
        ready = client.get("/ready").json()
        assert ready["kyc"]["provider"] == "mock"
        assert ready["kyc"]["mockDefaultStatus"] == "verified"
        assert "mock" in ready["kyc"]["warning"] and "kyc" not in ready["checks"]
        mine = client.get("/v1/kyc/me", headers=bearer("investor", tenant, "inv-9"))
        assert mine.json() == {
            "subject": "inv-9",
            "status": "verified",
            "recorded": False,
            "provider": "mock",
            "verificationUrl": None,
            "updatedAt": None,
        }
        refused = client.post(WEBHOOK, content=b"{}", headers={"X-Signature": "t=1,v1=00"})
        assert (refused.status_code, refused.json()["code"]) == (404, "KYC_WEBHOOK_NOT_CONFIGURED")
