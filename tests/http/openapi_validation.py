"""Check real HTTP exchanges against the OpenAPI document.

Any test can hand a response from ``TestClient`` to the contract::

    from tests.http.openapi_validation import assert_matches_openapi

    response = client.get("/v1/invoices", headers=headers)
    assert_matches_openapi(response)

``assert_matches_openapi`` finds the operation by matching the request path against the
document's path templates, then checks that the status is documented for it, that the
documented headers are present and valid, that the media type is documented, and that the body
matches the schema (``$ref`` resolved against the document). A path no template matches must
answer the generic 404, a documented path asked with an undocumented method the generic 405.
``assert_request_matches_openapi`` checks the request side (parameters and body) the same way.
Every mismatch is reported at once, in one ``AssertionError``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import attrs
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from stellar_sdk.strkey import StrKey

from liquifact_core.rules import UNSEARCHABLE_MESSAGE
from liquifact_core.validation import SINGLE_LINE_FORBIDDEN, is_invisible
from liquifact_http.openapi import openapi_document

# OpenAPI's formats plus the two the document defines for Stellar addresses (StrKey with its
# checksum): a value valid by the schema *and* its formats is what the API accepts.
API_FORMATS = FormatChecker()
API_FORMATS.checkers = dict(oas30_format_checker.checkers)


def _is_account(value: object) -> bool:
    return not isinstance(value, str) or StrKey.is_valid_ed25519_public_key(value)


def _is_contract(value: object) -> bool:
    return not isinstance(value, str) or StrKey.is_valid_contract(value)


API_FORMATS.checks("stellar-account")(_is_account)
API_FORMATS.checks("soroban-contract")(_is_contract)

# Rules the document states in words because JSON Schema cannot (docs/architecture.md lists
# them): a request valid by the schema may still be refused for one of these, and only these,
# named by the field code or by the (field, message) of the problem's `errors` entry.
INEXPRESSIBLE_CODES = frozenset(
    {
        "DUE_BEFORE_ISSUE",
        "INVALID_RANGE",
        "REQUIRED_TOGETHER",
        "NOT_ALLOWED_FOR_ROLE",
        "INVALID_CURSOR",
        "CURSOR_MISMATCH",
        # The audit export's page parameters with format=csv (a rule across two parameters).
        "NOT_ALLOWED_FOR_FORMAT",
        "CLIENT_DOMAIN_NOT_ALLOWED",
        "CLIENT_DOMAIN_UNAVAILABLE",
        "UNKNOWN_HOME_DOMAIN",
        # Webhook URLs: https only, no user info or fragment, and a host that resolves to
        # public addresses only (SSRF rules of DNS answers and address classes).
        "WEBHOOK_URL_INVALID",
        "WEBHOOK_URL_NOT_HTTPS",
        "WEBHOOK_URL_BLOCKED",
        "WEBHOOK_HOST_UNRESOLVED",
        # Invoice documents: the file's type by its magic bytes (not by any declared type), a
        # file with no bytes, and sizes over the deployment's BODY_LIMIT_INVOICE.
        "FILE_CONTENT_NOT_ALLOWED",
        "FILE_CONTENT_MISMATCH",
        "FILE_EMPTY",
        "FILE_TOO_LARGE",
    }
)
SEARCHABLE_FIELDS = ("buyerName", "displayName", "q")
INEXPRESSIBLE_MESSAGES = (
    ("metadata", re.compile(r"must be at most \d+ bytes as JSON")),
    ("amount", re.compile(r"has more than \d+ decimal places for [A-Z]{3}")),
    ("funderAddress", re.compile(r"is required for operators")),
    # Names must keep a character once folded for search (NFKD, case fold, no combining marks):
    # a rule of Unicode data no pattern states.
    *((name, re.compile(re.escape(UNSEARCHABLE_MESSAGE))) for name in SEARCHABLE_FIELDS),
)


def is_inexpressible(error: Mapping[str, Any]) -> bool:
    """True when a problem's field error is one of the rules the schema cannot state."""
    return error.get("code") in INEXPRESSIBLE_CODES or any(
        error.get("field") == field and pattern.fullmatch(str(error.get("message", "")))
        for field, pattern in INEXPRESSIBLE_MESSAGES
    )


def refuses_astral_text(value: Any) -> bool:
    """True when ``value`` is text holding a character outside the Basic Multilingual Plane
    that the text rules refuse (astral format and invisible characters: no pattern can name
    them alike in ECMA-262 and Python, docs/architecture.md)."""
    return isinstance(value, str) and any(
        ord(ch) > 0xFFFF and (unicodedata.category(ch) in SINGLE_LINE_FORBIDDEN or is_invisible(ch))
        for ch in value
    )


def refused_only_for_inexpressible(
    status: int, problem: Any, body: Mapping[str, Any] | None = None
) -> bool:
    """True when a 400 problem names field errors and every one is such a rule; with the
    request ``body``, an INVALID_TEXT on a top-level field holding astral refused text too."""
    if status != 400 or not isinstance(problem, dict):
        return False
    errors = problem.get("errors") or []

    def explained(error: Mapping[str, Any]) -> bool:
        if is_inexpressible(error):
            return True
        return (
            body is not None
            and error.get("code") == "INVALID_TEXT"
            and refuses_astral_text(body.get(str(error.get("field"))))
        )

    return bool(errors) and all(explained(error) for error in errors)


_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Url(Protocol):
    @property
    def path(self) -> str: ...


class HttpRequest(Protocol):
    """What is read from a request (``httpx``/``httpx2`` requests fit)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> _Url: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...


class HttpResponse(Protocol):
    """What is read from a response (``httpx``/``httpx2`` responses fit)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def request(self) -> HttpRequest: ...


@attrs.frozen
class PathMatch:
    """A concrete request path matched to one of the document's path templates."""

    template: str
    item: Mapping[str, Any]
    path_params: Mapping[str, str]

    def operation(self, method: str) -> Mapping[str, Any] | None:
        """The operation answering ``method``; HEAD is answered by GET."""
        name = method.lower()
        found = self.item.get(name)
        if found is None and name == "head":
            found = self.item.get("get")
        return found if isinstance(found, Mapping) else None


def _template_regex(template: str) -> re.Pattern[str]:
    parts, last = [], 0
    for param in _TEMPLATE_PARAM.finditer(template):
        parts.append(re.escape(template[last : param.start()]))
        parts.append(f"(?P<{param.group(1)}>[^/]+)")
        last = param.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _describe(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


class OpenApiContract:
    """One OpenAPI 3.0 document, ready to match paths and validate instances."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        # A validator rooted at the whole document: ``evolve`` keeps its $ref resolution, so
        # every sub-schema's "#/components/..." references resolve against the document.
        self._root = OAS30Validator(document, format_checker=API_FORMATS)
        # Literal paths win over templated ones, as in Starlette's routing of this API.
        self._templates = sorted(
            ((template, _template_regex(template)) for template in document["paths"]),
            key=lambda pair: (pair[0].count("{"), pair[0]),
        )

    # ---- lookup -----------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        """``node`` with any chain of local ``$ref`` followed."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            reference = node["$ref"]
            if not isinstance(reference, str) or not reference.startswith("#/"):
                raise AssertionError(f"only local references are supported: {reference!r}")
            if reference in seen:
                raise AssertionError(f"circular reference {reference}")
            seen.add(reference)
            node = self.document
            for token in reference[2:].split("/"):
                node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def match(self, path: str) -> PathMatch | None:
        """The path template ``path`` answers to, or None."""
        for template, regex in self._templates:
            found = regex.fullmatch(path)
            if found is not None:
                return PathMatch(template, self.document["paths"][template], found.groupdict())
        return None

    def schema_errors(self, schema: Mapping[str, Any], instance: Any) -> list[str]:
        """Every way ``instance`` breaks ``schema`` (a schema object of this document)."""
        validator = self._root.evolve(schema=schema)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in errors
        ]

    def component_schema(self, name: str) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.document["components"]["schemas"][name]
        return schema

    # ---- responses ---------------------------------------------------------------------------
    def response_spec(self, response: HttpResponse) -> tuple[str, Mapping[str, Any] | None]:
        """Where the response is documented (for messages) and its resolved Response Object."""
        request = response.request
        path, status = request.url.path, response.status_code
        components = self.document["components"]["responses"]
        match = self.match(path)
        if match is None:
            where = f"{path} (no documented path)"
            return where, self.resolve(components["NotFound"]) if status == 404 else None
        operation = match.operation(request.method)
        if operation is None:
            where = f"{_describe(request.method, match.template)} (method not documented)"
            return where, self.resolve(components["MethodNotAllowed"]) if status == 405 else None
        where = f"{_describe(request.method, match.template)} ({operation['operationId']})"
        responses = operation["responses"]
        spec = (
            responses.get(str(status))
            or responses.get(f"{status // 100}XX")
            or responses.get("default")
        )
        return where, self.resolve(spec) if spec is not None else None

    def response_errors(self, response: HttpResponse) -> list[str]:
        """Every way ``response`` differs from the document; empty when it conforms."""
        where, spec = self.response_spec(response)
        if spec is None:
            return [f"status {response.status_code} is not documented for {where}"]
        errors = self._header_errors(spec, response.headers)
        errors += self._content_errors(spec, response)
        return [f"{where} -> {response.status_code}: {error}" for error in errors]

    def _header_errors(self, spec: Mapping[str, Any], headers: Mapping[str, str]) -> list[str]:
        errors = []
        for name, raw_header in spec.get("headers", {}).items():
            header = self.resolve(raw_header)
            value = headers.get(name)
            if value is None:
                if header.get("required", False):
                    errors.append(f"header {name} is missing")
                continue
            errors += [
                f"header {name}={value!r}: {problem}"
                for problem in self.schema_errors(header.get("schema", {}), value)
            ]
        return errors

    def _content_errors(self, spec: Mapping[str, Any], response: HttpResponse) -> list[str]:
        content: Mapping[str, Any] = spec.get("content", {})
        has_body = response.request.method.upper() != "HEAD"
        if not content:
            if has_body and response.content:
                return [f"no body is documented, got {response.content[:80]!r}"]
            return []
        media_type = _media_type(response.headers.get("content-type"))
        if media_type not in content:
            return [f"content type {media_type!r} is not one of {sorted(content)}"]
        if not has_body:
            return []
        schema = content[media_type].get("schema")
        if _is_json(media_type):
            try:
                instance = json.loads(response.content)
            except ValueError:
                return [f"body is not JSON: {response.content[:80]!r}"]
        else:
            instance = response.content.decode("utf-8")
        errors = [f"body {e}" for e in self.schema_errors(schema, instance)] if schema else []
        if _is_json(media_type) and media_type.startswith("application/problem"):
            status = instance.get("status") if isinstance(instance, dict) else None
            if status != response.status_code:
                errors.append(f"problem status {status!r} is not the HTTP status")
        return errors

    # ---- requests ----------------------------------------------------------------------------
    def request_errors(self, request: HttpRequest) -> list[str]:
        """Every way ``request`` breaks the documented parameters and request body."""
        path = request.url.path
        match = self.match(path)
        operation = match.operation(request.method) if match else None
        if match is None or operation is None:
            return [f"{_describe(request.method, path)} is not a documented operation"]
        where = _describe(request.method, match.template)
        errors = self._parameter_errors(operation, match, request)
        errors += self._body_errors(operation, request)
        return [f"{where} request: {error}" for error in errors]

    def _parameter_errors(
        self, operation: Mapping[str, Any], match: PathMatch, request: HttpRequest
    ) -> list[str]:
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        parameters = [self.resolve(p) for p in operation.get("parameters", [])]
        documented_query = {p["name"] for p in parameters if p["in"] == "query"}
        errors = [
            f"query parameter {name!r} is not documented"
            for name in query
            if name not in documented_query
        ]
        for parameter in parameters:
            name, location = parameter["name"], parameter["in"]
            if location == "path":
                values = [match.path_params[name]] if name in match.path_params else []
            elif location == "header":
                sent = request.headers.get(name)
                values = [] if sent is None else [sent]
            else:
                values = query.get(name, [])
            if not values:
                if parameter.get("required", False):
                    errors.append(f"{location} parameter {name} is missing")
                continue
            schema = self.resolve(parameter.get("schema", {}))
            for value in values:
                instance = self._parameter_value(schema, value)
                errors += [
                    f"{location} parameter {name}={value!r}: {problem}"
                    for problem in self.schema_errors(schema, instance)
                ]
        return errors

    def _parameter_value(self, schema: Mapping[str, Any], raw: str) -> Any:
        """The typed value of a ``style: form``/``simple`` parameter, for validation."""
        kind = schema.get("type")
        if kind == "array":
            return raw.split(",") if raw else []
        if kind == "integer" and re.fullmatch(r"-?[0-9]+", raw):
            return int(raw)
        if kind == "boolean" and raw in ("true", "false"):
            return raw == "true"
        return raw

    def _body_errors(self, operation: Mapping[str, Any], request: HttpRequest) -> list[str]:
        body_spec = self.resolve(operation.get("requestBody"))
        if not request.content.strip():
            required = bool(body_spec and body_spec.get("required", False))
            return ["the request body is required"] if required else []
        if body_spec is None:
            return ["a body is sent but none is documented"]
        media_type = _media_type(request.headers.get("content-type"))
        content: Mapping[str, Any] = body_spec["content"]
        if media_type not in content:
            return [f"content type {media_type!r} is not one of {sorted(content)}"]
        if content[media_type].get("schema", {}).get("format") == "binary":
            return []  # a file's bytes (invoice documents): any bytes match `format: binary`
        try:
            instance = json.loads(request.content)
        except ValueError:
            return ["the body is not JSON"]
        schema = content[media_type].get("schema", {})
        return [f"body {problem}" for problem in self.schema_errors(schema, instance)]


@cache
def api_contract() -> OpenApiContract:
    """The contract of this API's own document."""
    return OpenApiContract(openapi_document())


def assert_matches_openapi(response: HttpResponse, contract: OpenApiContract | None = None) -> None:
    """Fail, listing every mismatch, unless ``response`` is what the document promises."""
    errors = (contract or api_contract()).response_errors(response)
    if errors:
        raise AssertionError("response does not match OpenAPI:\n  " + "\n  ".join(errors))


def assert_request_matches_openapi(
    request: HttpRequest, contract: OpenApiContract | None = None
) -> None:
    """Fail, listing every mismatch, unless ``request`` is valid by the document."""
    errors = (contract or api_contract()).request_errors(request)
    if errors:
        raise AssertionError("request does not match OpenAPI:\n  " + "\n  ".join(errors))
