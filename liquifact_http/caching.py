"""Response caching for expensive read routes: ``@cached(key)`` on a GET handler.

The store is the app's ``Cache`` port (``services.cache``: in-process LRU, or Redis when
``REDIS_URL`` is set). The use cases report each committed change (``liquifact_core.changes``);
the composition root wires ``liquifact_adapters.cache.CacheInvalidation`` over the same cache,
which drops the affected key prefixes, so a write through any process (or library use) drops
the affected entries. Rules, as in the spec:

* keys always start ``<family>:<tenantId>:`` (``marketplace:<tenantId>:<originalUrl>``...), so
  one tenant's data is never served to another; add the principal when results depend on it
  (authorisation comes first: ``routes.common.resource`` checks the route's access rule
  before the handler runs, so before the cache is consulted);
* ``X-Cache: HIT`` (served from the cache) or ``MISS`` (made by the handler);
* ``Cache-Control: no-cache`` on the request bypasses the read (the fresh answer is stored);
* only 200 answers without ``Set-Cookie`` or ``Cache-Control: no-store/private`` are stored,
  for ``CACHE_TTL_SECONDS`` (15 s) unless the route says otherwise;
* a failing store never fails the request: it is a miss, and it is logged and counted.

A marketplace route opts in like this::

    @cached(MARKETPLACE_KEY)
    async def search_marketplace(request: Request) -> Response: ...

and every committed lifecycle change of the tenant's invoices drops ``marketplace:<tenant>:``
(``liquifact_adapters.cache.invalidation.stale_prefixes``).

A route whose caching depends on its own settings passes ``ttl_seconds`` as a function of the
request (None: this app does not cache it, and answers carry no ``X-Cache``), and one whose
entries can go out of date in ways no change event reports passes ``serve_if``, asked of each
entry found (False: a miss, and the handler's answer replaces the entry). The escrow view
(``routes.escrow``) uses both: REDIS_ESCROW_CACHE_* and its ledger-gap rule.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from collections.abc import Awaitable, Callable

from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response

from liquifact_adapters.cache.invalidation import (
    ESCROW,
    INVESTOR_LOCK,
    INVESTOR_LOCKS,
    MARKETPLACE,
)
from liquifact_core.ports import Cache
from liquifact_http.callers import Caller, caller_of
from liquifact_http.logs import get_logger
from liquifact_http.metrics import Metrics
from liquifact_http.routes.common import blocking_unless_in_process, services

Handler = Callable[[Request], Awaitable[Response]]
CacheKey = Callable[[Request], str]
KeyPart = Callable[[Request, Caller], str]
TtlRule = Callable[[Request], float | None]
EntryCheck = Callable[[Request, Response], Awaitable[bool]]

X_CACHE = "X-Cache"
# Headers that belong to one exchange, not to the resource: never stored.
_NOT_STORED = frozenset(
    {"content-length", "set-cookie", "x-correlation-id", "date", "x-cache", "connection"}
)
_log = get_logger("liquifact.cache")


def original_url(request: Request) -> str:
    """The path the client asked for (before ``/api`` aliasing) plus its query string."""
    path = str(request.scope.get("state", {}).get("original_path", request.url.path))
    query = request.url.query
    return f"{path}?{query}" if query else path


def tenant_key(family: str, *parts: KeyPart, per_principal: bool = False) -> CacheKey:
    """Keys ``<family>:<tenantId>[:<principal>]:<part>...`` (default part: the original URL)."""
    pieces: tuple[KeyPart, ...] = parts or (lambda request, _caller: original_url(request),)

    def key(request: Request) -> str:
        caller = caller_of(request)
        fields = [family, caller.tenant_id]
        if per_principal:
            fields.append(caller.actor.id)
        fields += [piece(request, caller) for piece in pieces]
        return ":".join(fields)

    return key


def family_of(key: str) -> str:
    """The cache family (metric label) of a key: its text before the first colon."""
    return key.split(":", 1)[0] or "unknown"


def _viewer(_request: Request, caller: Caller) -> str:
    # Lock reads depend on who asks (non-admins see only their bound wallet's locks).
    return f"{caller.actor.role.value}.{caller.actor.id}.{caller.actor.wallet or '-'}"


# The spec's key formats; the families are the ones change invalidation drops. Investor lock
# keys add the viewer after the tenant so that an entry cached for one caller is never served
# to another; the invalidation prefixes ("investor:locks:<tenantId>:", ...) still cover them.
MARKETPLACE_KEY = tenant_key(MARKETPLACE)  # marketplace:<tenantId>:<originalUrl>
INVESTOR_LOCKS_KEY = tenant_key(
    INVESTOR_LOCKS, _viewer, lambda request, _caller: original_url(request)
)  # investor:locks:<tenantId>:<viewer>:<originalUrl>


def _principal(_request: Request, caller: Caller) -> str:
    return f"{caller.actor.role.value}.{caller.actor.id}"


def escrow_key(invoice_param: str = "invoiceId") -> CacheKey:
    """``escrow:<tenantId>:<invoiceId>:<role>.<principal>``: one invoice's escrow view.

    The invoice's prefix (``invalidation.escrow_prefix``) is what its changes drop. The
    caller comes last because who may see the invoice depends on who asks (SMEs their own,
    investors investable ones): an entry stored for one caller is never served to another,
    even of the same tenant, and a caller who may not see the invoice never has an entry
    (only 200 answers are stored). The route's access rule is checked before the handler,
    and so before the cache.
    """
    return tenant_key(
        ESCROW,
        lambda request, _caller: str(request.path_params.get(invoice_param, "")),
        _principal,
    )


def investor_lock_key(invoice_param: str = "invoiceId") -> CacheKey:
    """``investor:lock:<tenantId>:<viewer>:<invoiceId>:<query>``.

    The spec's key ends in ``<funderAddress>``; the raw query string stands in its place
    (``funderAddress=G...``, or empty for the caller's own wallet), because the lookup runs
    before the handler validates the query: a key read from the parsed value would serve the
    cached answer of ``?funderAddress=G...`` to ``?funderAddress=G...&bogus=1``, to a repeated
    parameter and to ``?funderAddress=`` (each a 400), as keys made of the whole URL never do.
    """
    return tenant_key(
        INVESTOR_LOCK,
        _viewer,
        lambda request, _caller: str(request.path_params.get(invoice_param, "")),
        lambda request, _caller: request.url.query,
    )


def _encode(response: Response) -> bytes:
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in response.raw_headers
        if name.decode("latin-1").lower() not in _NOT_STORED
    ]
    body = base64.b64encode(bytes(response.body)).decode("ascii")
    return json.dumps({"s": response.status_code, "h": headers, "b": body}).encode()


# A stored entry parsed: (status, headers as (name, value) pairs, body).
_Parsed = tuple[int, tuple[tuple[str, str], ...], bytes]
# Parsed entries by their stored bytes, so a hot entry is parsed once rather than on every
# hit (JSON and base64 decoding cost more than the rest of serving it). The in-process cache
# hands back the very object it stored, whose hash Python keeps; a Redis entry costs one hash
# and one comparison. Bounded by the stored entries' sizes (each remembered entry holds its
# stored bytes and a parsed body smaller than them: at most twice this in memory).
PARSED_ENTRIES_MAX_BYTES = 8 * 1024 * 1024
_parsed: LRUCache[bytes, tuple[int, _Parsed]] = LRUCache(
    PARSED_ENTRIES_MAX_BYTES, getsizeof=lambda sized: sized[0]
)
_parsed_lock = threading.Lock()  # Redis reads run on the thread pool


def _parse(raw: bytes) -> _Parsed:
    entry = json.loads(raw)
    body = base64.b64decode(entry["b"], validate=True)
    headers = tuple((name, value) for name, value in entry["h"])
    return int(entry["s"]), headers, body


def _decode(raw: bytes) -> Response:
    with _parsed_lock:
        found = _parsed.get(raw)
    if found is None:
        parsed = _parse(raw)
        if len(raw) <= PARSED_ENTRIES_MAX_BYTES:
            with _parsed_lock:
                _parsed[raw] = (len(raw), parsed)
    else:
        parsed = found[1]
    status, headers, body = parsed
    response = Response(body, status_code=status)
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers.append(name, value)
        else:
            response.headers[name] = value
    return response


def _storable(response: Response) -> bool:
    if response.status_code != 200 or not hasattr(response, "body"):
        return False
    if "set-cookie" in response.headers:
        return False
    directives = response.headers.get("cache-control", "").lower()
    return "no-store" not in directives and "private" not in directives


def _bypass(request: Request) -> bool:
    directives = request.headers.get("cache-control", "").lower().split(",")
    return any(d.strip() in {"no-cache", "no-store"} for d in directives)


def _safe_get(cache: Cache, key: str, metrics: Metrics) -> Response | None:
    try:
        raw = cache.get(key)
        return None if raw is None else _decode(raw)
    except Exception as error:  # a broken store or entry is a miss, never a failure
        metrics.cache_errors.labels(cache=family_of(key), operation="get").inc()
        _log.warning("cache_read_failed", error_type=type(error).__name__)
        return None


def _safe_set(cache: Cache, key: str, response: Response, ttl: float, metrics: Metrics) -> None:
    try:
        cache.set(key, _encode(response), ttl)
    except Exception as error:
        metrics.cache_errors.labels(cache=family_of(key), operation="set").inc()
        _log.warning("cache_write_failed", error_type=type(error).__name__)


async def _reusable(check: EntryCheck | None, request: Request, found: Response) -> bool:
    if check is None:
        return True
    try:
        return await check(request, found)
    except Exception as error:  # an entry that cannot be judged is not served
        _log.warning("cache_entry_check_failed", error_type=type(error).__name__)
        return False


def cached(
    key: CacheKey,
    *,
    ttl_seconds: float | TtlRule | None = None,
    serve_if: EntryCheck | None = None,
) -> Callable[[Handler], Handler]:
    """Serve a GET/HEAD handler's 200 answers from the app's cache for ``ttl_seconds``
    (default CACHE_TTL_SECONDS). ``ttl_seconds`` may be a function of the request: None then
    means the app does not cache the route. ``serve_if(request, entry)``: whether an entry
    found may be served (False, or an error: a miss)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def serve(request: Request) -> Response:
            if request.method not in {"GET", "HEAD"}:
                return await handler(request)
            ttl = ttl_seconds(request) if callable(ttl_seconds) else ttl_seconds
            if callable(ttl_seconds) and ttl is None:
                return await handler(request)
            cache_key = key(request)
            family = family_of(cache_key)
            cache = services(request).cache
            metrics: Metrics = request.app.state.metrics
            if not _bypass(request):
                found = await blocking_unless_in_process(
                    cache, _safe_get, cache, cache_key, metrics
                )
                if found is not None and await _reusable(serve_if, request, found):
                    metrics.cache_hits.labels(cache=family).inc()
                    found.headers[X_CACHE] = "HIT"
                    return found
            metrics.cache_misses.labels(cache=family).inc()
            response = await handler(request)
            if _storable(response):
                ttl = ttl or float(request.app.state.settings.cache_ttl_seconds)
                await blocking_unless_in_process(
                    cache, _safe_set, cache, cache_key, response, ttl, metrics
                )
            response.headers[X_CACHE] = "MISS"
            return response

        return serve

    return decorate
