"""The spec's automatic audit of admin writes: every successful ``POST``, ``PUT``, ``PATCH``
or ``DELETE`` under ``/v1/admin/`` (the spec's ``/api/admin/*``, which its alias reaches)
appends one event (``AuditService.record_admin_request``) naming the caller, the request
(method, path, route, status, client address, User-Agent, correlation id, path parameters)
and its JSON body, redacted before it is stored (``liquifact_core.audit.redact``).

The spec's optional headers name the event: ``X-Admin-Action`` its action (else
``"<METHOD> <route>"``), ``X-Audit-Target-Type`` and ``X-Audit-Target-Id`` (both or neither)
its resource (else the route). They are checked before the handler runs (400).

The event is written after the handler's own unit of work committed (the change is made
whatever happens next), so a store failure at that moment cannot undo it: it is logged as
``admin_audit_failed`` and the answer stands. The handler's own domain event (``wallet.bound``,
``webhook.configured`` ...) is in the trail either way, written with the change itself.
"""

from __future__ import annotations

import re

import attrs
from starlette.requests import Request

from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.services.audit import AdminRequest
from liquifact_http.callers import caller_of
from liquifact_http.logs import get_logger
from liquifact_http.ratelimit import client_address

AUDITED_PREFIX = "/v1/admin/"
AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACTION_HEADER = "X-Admin-Action"
TARGET_TYPE_HEADER = "X-Audit-Target-Type"
TARGET_ID_HEADER = "X-Audit-Target-Id"
ACTION_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"
TARGET_TYPE_PATTERN = "^[A-Za-z0-9_.:-]{1,64}$"
TARGET_ID_PATTERN = "^[A-Za-z0-9_.:@-]{1,128}$"
JSON_BODY_STATE_KEY = "json_body"
USER_AGENT_MAX = 512
_log = get_logger("liquifact.audit")
_PATTERNS = {
    ACTION_HEADER: re.compile(ACTION_PATTERN[1:-1]),
    TARGET_TYPE_HEADER: re.compile(TARGET_TYPE_PATTERN[1:-1]),
    TARGET_ID_HEADER: re.compile(TARGET_ID_PATTERN[1:-1]),
}


@attrs.frozen
class AuditHints:
    """What the request's headers say the event is: its action and target, if given."""

    action: str | None
    target: tuple[str, str] | None


def is_audited(method: str, path: str) -> bool:
    return method in AUDITED_METHODS and path.startswith(AUDITED_PREFIX)


def audit_hints(request: Request) -> AuditHints:
    """The checked ``X-Admin-Action`` and ``X-Audit-Target-*`` headers; ValidationError (400)
    for a malformed one, or a target type without its id or the other way round."""
    values = {name: request.headers.get(name) for name in _PATTERNS}
    errors = [
        FieldError(name, f"must match {pattern.pattern}", "INVALID_HEADER")
        for name, pattern in _PATTERNS.items()
        if values[name] is not None and not pattern.fullmatch(str(values[name]))
    ]
    target_type, target_id = values[TARGET_TYPE_HEADER], values[TARGET_ID_HEADER]
    if (target_type is None) != (target_id is None) and not errors:
        missing = TARGET_ID_HEADER if target_id is None else TARGET_TYPE_HEADER
        errors.append(
            FieldError(
                missing,
                f"{TARGET_TYPE_HEADER} and {TARGET_ID_HEADER} are sent together",
                "REQUIRED_TOGETHER",
            )
        )
    if errors:
        raise ValidationError("The audit headers are not valid.", field_errors=errors)
    target = None if target_type is None or target_id is None else (target_type, target_id)
    return AuditHints(values[ACTION_HEADER], target)


def _user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    if agent is None:
        return None
    printable = "".join(ch if ch.isprintable() else " " for ch in agent)
    return printable[:USER_AGENT_MAX]


async def record(
    request: Request, route: str, method: str, status_code: int, hints: AuditHints
) -> None:
    """Append the event of a successful admin write (never raises: see the module doc)."""
    from liquifact_http.routes.common import blocking, services  # the routes import this

    state = request.scope.get("state", {})
    body = state.get(JSON_BODY_STATE_KEY)
    entry = AdminRequest(
        method=method,
        path=request.url.path,
        route=route,
        status_code=status_code,
        ip_address=client_address(request.scope),
        user_agent=_user_agent(request),
        correlation_id=state.get("correlation_id"),
        action=hints.action,
        target=hints.target,
        path_params={str(k): str(v) for k, v in request.path_params.items()},
        body=body if isinstance(body, dict) else None,
    )
    caller = caller_of(request)
    try:
        await blocking(
            services(request).audit.record_admin_request, caller.tenant_id, caller.actor, entry
        )
    except Exception as error:  # the change is committed: report and go on
        _log.error("admin_audit_failed", route=route, error_type=type(error).__name__)
