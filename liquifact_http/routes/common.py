"""Helpers shared by route modules."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from liquifact_adapters.cache import InProcessCache, InProcessWindowCounter
from liquifact_core.errors import ValidationError
from liquifact_core.services import Services
from liquifact_http import admin_audit, wire
from liquifact_http.access import access_for, authorize
from liquifact_http.bodies import read_object
from liquifact_http.callers import caller_of
from liquifact_http.problems import Problem
from liquifact_http.text_guard import refuse_bad_query_text

P = ParamSpec("P")
T = TypeVar("T")
# RFC 9110 section 13.1.1: If-Match = "*" / #entity-tag, entity-tag = [ "W/" ] DQUOTE
# *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text; a list may hold empty elements (5.6.1).
_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
IF_MATCH_SYNTAX = rf"^[ \t]*(?:\*|(?:,[ \t]*)*{_ETAG}(?:[ \t]*,(?:[ \t]*{_ETAG})?)*)[ \t]*$"
_IF_MATCH = re.compile(IF_MATCH_SYNTAX)
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_OUR_TAG = re.compile(r"v([0-9]{1,18})")  # representations.etag: "v<version>"


def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a port-touching call on the thread pool, never on the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


# Adapters whose data lives in this process's memory: a call does no I/O and holds its lock
# for microseconds, less than a thread-pool hand-off costs (docs/performance.md, "Hot path").
_IN_PROCESS = (InProcessCache, InProcessWindowCounter)


def in_process(adapter: object) -> bool:
    """True when ``adapter`` keeps its data in this process's memory and never blocks on I/O
    (the in-process cache and rate-limit counters), so calling it on the event loop is safe."""
    return isinstance(adapter, _IN_PROCESS)


async def blocking_unless_in_process(
    adapter: object, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(*args, **kwargs)``, a call on ``adapter``: directly when the adapter is
    ``in_process``, else on the thread pool (``blocking``), as for any other port."""
    if in_process(adapter):
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


# One encoder for every JSON body: ``json.dumps`` with options builds a new one per call,
# which cost a third of encoding a marketplace page. Same output as
# ``json.dumps(body, separators=(",", ":"), ensure_ascii=False)``.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_text(body: Any) -> str:
    """``body`` as the compact JSON text ``json_response`` sends."""
    return _JSON.encode(body)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _JSON.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def if_match_versions(raw: str) -> frozenset[int] | None:
    """The invoice versions an ``If-Match`` value can match; None for ``*`` (any).

    Strong comparison (RFC 9110 section 8.8.3.2): a weak tag (``W/"v1"``) matches nothing, nor
    does a well-formed tag this API never issues. A value that is not ``*`` or a list of
    entity-tags raises 400 ``VALIDATION_ERROR`` naming the ``If-Match`` field.
    """
    if _IF_MATCH.fullmatch(raw) is None:
        raise ValidationError.for_field(
            "If-Match",
            'must be "*" or a comma-separated list of entity-tags such as "v3"',
            "INVALID_IF_MATCH",
        )
    if raw.strip() == "*":
        return None
    versions = set()
    for weak, opaque in _ENTITY_TAG.findall(raw):
        ours = _OUR_TAG.fullmatch(opaque)
        if not weak and ours is not None:
            versions.add(int(ours.group(1)))
    return frozenset(versions)


async def expected_version(request: Request) -> int | None:
    """The current version of the invoice ``{id}`` if ``If-Match`` names it; None when the
    header is absent or ``*`` (no precondition beyond existence).

    RFC 9110 section 13.2.2: the precondition is evaluated before the method's body is
    looked at, so a stale tag is 412 even when the body is also invalid. The current version
    is read (as the caller is allowed to see it: 404 otherwise) and the version returned is
    handed to the use case, which compares it again inside its unit of work, so a change
    between this read and the write still ends in 412. Raises 400 for a malformed header,
    412 ``PRECONDITION_FAILED`` when no listed strong tag is the current version.
    """
    values = request.headers.getlist("if-match")
    if not values:
        return None
    versions = if_match_versions(",".join(values))
    if versions is None:
        return None
    caller = caller_of(request)
    invoice = await blocking(
        services(request).invoices.get, caller.tenant_id, caller.actor, request.path_params["id"]
    )
    if invoice.version not in versions:
        raise Problem(
            412,
            "PRECONDITION_FAILED",
            f'If-Match does not name the invoice\'s current version (ETag "v{invoice.version}"); '
            "re-read it and retry.",
        )
    return int(invoice.version)


Handler = Callable[[Request], Awaitable[Response]]


def query(request: Request, cls: type[T]) -> T:
    """The request's query string as a typed ``cls`` query (``wire.structure_query``): every
    unknown, repeated or bad parameter is a 400 entry of its own."""
    return wire.structure_query(request.query_params.multi_items(), cls)


# Queries parsed by ``remembered_query``, by (class, raw query string); bounded by the size of
# the query strings they hold. Only successes are kept: a refused query is parsed (and
# refused, every error listed) each time.
REMEMBERED_QUERIES_MAX_BYTES = 1024 * 1024
_queries: LRUCache[tuple[type[Any], bytes], tuple[bytes, Any]] = LRUCache(
    REMEMBERED_QUERIES_MAX_BYTES, getsizeof=lambda entry: 64 + len(entry[0])
)
_queries_lock = threading.Lock()


def remembered_query(request: Request, cls: type[T]) -> T:
    """``query(request, cls)`` for the hot list routes, remembered per raw query string.

    For query classes whose parsing depends on the query string alone (no clock, no caller,
    no store: the marketplace and list queries) and whose instances are immutable, so one
    parsed value may serve every request that sends the same string: clients page and
    refresh the same few URLs, and parsing one checked every parameter's rule again.
    """
    raw = bytes(request.scope.get("query_string", b""))
    key = (cls, raw)
    with _queries_lock:
        found = _queries.get(key)
    if found is not None:
        remembered: T = found[1]
        return remembered
    parsed = query(request, cls)
    if len(raw) <= REMEMBERED_QUERIES_MAX_BYTES // 16:
        with _queries_lock:
            _queries[key] = (raw, parsed)
    return parsed


def no_query(request: Request) -> None:
    """Refuse every query parameter of a route that takes none, each in its own entry."""
    wire.refuse_query(request.query_params.multi_items())


def reads_query(handler: Handler) -> Handler:
    """Marks a handler that reads its query string (with ``query``). Every other handler's
    route refuses any query parameter before the handler runs (400 UNKNOWN_FIELD per name), so
    no route silently ignores one."""
    handler.reads_query = True  # type: ignore[attr-defined]
    return handler


def ignores_query(handler: Handler) -> Handler:
    """Marks a public document or probe (``/health``, ``/openapi.json``, ``/metrics`` ...) that
    ignores its query string: cache-busting and monitoring parameters there are harmless, and
    refusing them would only break tooling."""
    handler.reads_query = True  # type: ignore[attr-defined]  # nothing is read, nothing refused
    return handler


async def body(request: Request, cls: type[T], *, required: bool = True) -> T:
    """The request's JSON object body as a typed ``cls`` command (``wire.structure``)."""
    return wire.structure(await read_object(request, required=required), cls)


PRIVATE_STATE_KEY = "private_response"


def mark_private(scope: Scope) -> None:
    """This response answers an authenticated operation: it gets ``Cache-Control: private,
    no-store`` (errors included), so no shared or browser cache keeps it."""
    scope.setdefault("state", {})[PRIVATE_STATE_KEY] = True


def resource(path: str, **handlers: Handler) -> Route:
    """One route per path, dispatching on method, so 405 answers list every allowed method.

    Each method's access rule (``access.ACCESS``) is looked up now, so a route without one
    fails at import, and is enforced before the handler runs. Then the query string is held
    to the text rules (``text_guard.refuse_bad_query_text``) before any handler reads it, and
    refused whole unless the handler reads it (``reads_query``). A successful write under
    ``/v1/admin/`` is then audited (``admin_audit``).
    """
    rules = {method: access_for(path, method) for method in handlers}

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if not rules[method].public:
            # The answer depends on who asks: CorrelationMiddleware marks it uncacheable.
            mark_private(request.scope)
        authorize(request, rules[method])
        refuse_bad_query_text(request.scope.get("query_string", b""))
        handler = handlers[method]
        if not getattr(handler, "reads_query", False):
            no_query(request)
        audited = admin_audit.is_audited(method, path)
        hints = admin_audit.audit_hints(request) if audited else None
        response = await handler(request)
        if hints is not None and 200 <= response.status_code < 300:
            await admin_audit.record(request, path, method, response.status_code, hints)
        return response

    route = Route(path, dispatch, methods=list(handlers))
    route.handlers = handlers  # type: ignore[attr-defined]  # read by the OpenAPI coverage test
    return route
