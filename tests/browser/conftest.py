"""Fixtures of the browser tests: one ``make run`` server, two static sites (the allowed origin
and another) and one headless Chromium per module; a browser context per user."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from stellar_sdk import Keypair

from tests.browser.support import ROOT, MakeRun, StaticSite, Wallet, require_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@attrs.frozen
class Api:
    """The server under test and what the test configured it with."""

    server: MakeRun
    self_service_tenant: str
    signing_key: str  # the SEP-10 server account (public key)
    home_domain: str  # localhost:<port>, the default when HOME_DOMAIN is unset

    @property
    def base(self) -> str:
        return self.server.base

    def wallet(self) -> Wallet:
        return Wallet(self.signing_key, self.home_domain)


@attrs.frozen
class Sites:
    allowed: StaticSite  # its origin is CORS_ALLOWED_ORIGINS
    other: StaticSite  # an origin the API does not allow


class Front:
    """One user's browser: a context of its own (no shared cache or preflight cache) showing
    the page, with ``wallet`` exposed to it as ``walletGetAddress``/``walletSignTransaction``."""

    def __init__(self, context: BrowserContext, url: str, wallet: Wallet) -> None:
        self.context = context
        self.wallet = wallet
        self.page: Page = context.new_page()
        self.page.expose_function("walletGetAddress", wallet.get_address)
        self.page.expose_function("walletSignTransaction", wallet.sign_transaction)
        self.page.goto(url)

    def step(self, name: str, args: Any = None) -> Any:
        """Run the page's step ``name`` (app.js ``steps``) and return its JSON result."""
        return self.page.evaluate("([name, args]) => liquifact.run(name, args)", [name, args])


OpenFront = Callable[..., Front]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    allowed, other = StaticSite(), StaticSite()
    yield Sites(allowed, other)
    allowed.close()
    other.close()


def _development_files() -> dict[str, int | None]:
    """What `make run` keeps in ./var/ without configuration: each secret's modification
    time (None: absent), and whether the development store exists (a developer's own server
    may be writing to it meanwhile)."""
    var = ROOT / "var"
    found: dict[str, int | None] = {
        name: (var / name).stat().st_mtime_ns if (var / name).exists() else None
        for name in ("dev-jwt-secret", "dev-cursor-secret", "dev-sep10-signing-secret")
    }
    found["liquifact.db"] = int((var / "liquifact.db").exists())
    return found


@pytest.fixture(scope="module")
def api(
    chromium_path: str, sites: Sites, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    store: Path = tmp_path_factory.mktemp("browser") / "liquifact.db"
    signing = Keypair.random()
    tenant = "browser-" + uuid.uuid4().hex[:12]
    server = MakeRun(
        {
            # Everything `make run` and `liquifact serve` would otherwise keep in ./var/.
            "DATABASE_URL": f"sqlite:///{store}",
            "JWT_SECRET": secrets.token_urlsafe(48),
            "CURSOR_SECRET": secrets.token_urlsafe(48),
            "SEP10_SIGNING_SECRET": signing.secret,
            "SELF_SERVICE_TENANT": tenant,
            "CORS_ALLOWED_ORIGINS": sites.allowed.origin,
            "NODE_ENV": "development",
            "LOG_LEVEL": "info",
        }
    )
    before = _development_files()
    try:
        server.wait_ready()
        yield Api(server, tenant, signing.public_key, f"localhost:{server.port}")
    finally:
        server.stop()
    assert _development_files() == before, "make run wrote into the checkout's var/"


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def open_front(browser: Browser, api: Api, sites: Sites) -> Iterator[OpenFront]:
    """``open_front(site=sites.allowed, wallet=None)``: a new user's browser on the page."""
    contexts: list[BrowserContext] = []

    def open_one(site: StaticSite | None = None, wallet: Wallet | None = None) -> Front:
        context = browser.new_context()
        contexts.append(context)
        return Front(context, (site or sites.allowed).page_url(api.base), wallet or api.wallet())

    yield open_one
    for context in contexts:
        context.close()
