"""Every object schema of the OpenAPI document is generated from a class, and the classes give
the same JSON the schemas describe (``response_fields``, ``schemas.response_schema``,
``wire.unstructure``)."""

from __future__ import annotations

import gc
import json
from typing import Any

import attrs
import pytest

from liquifact_core.errors import FieldError
from liquifact_http import openapi, problems
from liquifact_http.response_fields import Representation, out
from liquifact_http.schemas import response_schema
from liquifact_http.wire import unstructure

DOCUMENT = openapi.openapi_document()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
REGISTRY = openapi.object_components()


def _representations() -> list[type[Representation]]:
    # attrs builds a new class for a slotted one; the class it replaced stays among
    # __subclasses__() until the garbage collector frees it (a duplicate "Foo is not Foo").
    gc.collect()
    found: list[type[Representation]] = []
    pending = list(Representation.__subclasses__())
    while pending:
        kind = pending.pop()
        if kind.__module__.startswith("liquifact_http."):
            found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_object_schema_is_generated_from_its_class(name: str) -> None:
    """No hand-written object schema: each one is the output of ``response_schema`` (a
    ``Representation``) or ``body_schema`` (a command) for the class the registry names."""
    schema = SCHEMAS[name]
    if schema.get("type") != "object":
        assert "properties" not in schema and "additionalProperties" not in schema
        return
    assert name in REGISTRY, f"{name} is an object schema generated from no class"
    component = REGISTRY[name]
    assert schema == component.schema()
    if issubclass(component.cls, Representation):
        assert component.cls.component == name
    else:
        assert attrs.has(component.cls)


def test_every_named_representation_is_in_the_document() -> None:
    """A class naming a component is a ``$ref`` wherever it is nested: that name must exist."""
    named = {kind.component: kind for kind in _representations() if kind.component}
    assert named
    for name, kind in named.items():
        assert REGISTRY[name].cls is kind


def test_every_registered_schema_is_in_the_document() -> None:
    assert set(REGISTRY) <= set(SCHEMAS)


# ---- the generator's features, on small classes ------------------------------------------------
@attrs.frozen
class _Leaf(Representation):
    component = "Leaf"

    value: int = out({"minimum": 0})


@attrs.frozen
class _Inline(Representation):
    flag: bool = out()
    note: str | None = out(omit_none=True)


@attrs.frozen
class _Root(Representation):
    leaf: _Leaf = out()
    leaves: list[_Leaf] = out({"minItems": 1})
    by_name: dict[str, _Leaf] = out()
    fixed: dict[str, _Inline] = out(keys=["a", "b"])
    inline: _Inline = out()
    maybe: str | None = out(nullable=True)
    gone: str | None = out({"description": "Only sometimes."}, omit_none=True)


def test_nested_classes_are_refs_when_named_and_written_in_place_otherwise() -> None:
    schema = response_schema(_Root, "A root.")
    properties = schema["properties"]
    ref = {"$ref": "#/components/schemas/Leaf"}
    assert properties["leaf"] == ref
    assert properties["leaves"] == {"type": "array", "items": ref, "minItems": 1}
    assert properties["byName"] == {"type": "object", "additionalProperties": ref}
    inline = {
        "type": "object",
        "properties": {"flag": {"type": "boolean"}, "note": {"type": "string"}},
        "additionalProperties": False,
        "required": ["flag"],
    }
    assert properties["inline"] == inline
    assert properties["fixed"] == {
        "type": "object",
        "properties": {"a": inline, "b": inline},
        "additionalProperties": False,
        "required": ["a", "b"],
    }
    assert properties["maybe"] == {"type": "string", "nullable": True}
    assert properties["gone"] == {"type": "string", "description": "Only sometimes."}
    assert schema["required"] == ["leaf", "leaves", "byName", "fixed", "inline", "maybe"]
    assert schema["description"] == "A root."
    assert schema["additionalProperties"] is False


def test_omit_none_fields_are_left_out_while_none_and_sent_when_set() -> None:
    leaf = _Leaf(1)
    inline = _Inline(True)
    root = _Root(leaf, [leaf], {"x": leaf}, {"a": inline, "b": inline}, inline, None)
    body = unstructure(root)
    assert list(body) == ["leaf", "leaves", "byName", "fixed", "inline", "maybe"]
    assert body["inline"] == {"flag": True}
    assert body["maybe"] is None
    noted = unstructure(attrs.evolve(root, gone="here", inline=_Inline(False, note="n")))
    assert list(noted) == ["leaf", "leaves", "byName", "fixed", "inline", "maybe", "gone"]
    assert noted["gone"] == "here"
    assert noted["inline"] == {"flag": False, "note": "n"}


# ---- the problem body keeps its exact bytes ----------------------------------------------------
def test_problem_bodies_keep_their_keys_order_and_bytes() -> None:
    bare = problems.render(problems.Problem(404, "NOT_FOUND", "Gone."), "req_12345678", "/v1/x")
    assert bare.media_type == problems.PROBLEM_MEDIA_TYPE
    assert bytes(bare.body) == (
        b'{"type":"https://liquifact.com/probs/not-found","title":"Not Found","status":404,'
        b'"detail":"Gone.","instance":"/v1/x","code":"NOT_FOUND",'
        b'"correlation_id":"req_12345678","retryable":false,'
        b'"retry_hint":"Check the identifier or path; retrying will not help."}'
    )
    invalid = problems.Problem(
        400, "VALIDATION_ERROR", "Bad.", field_errors=[FieldError("a", "is required", "REQUIRED")]
    )
    body = json.loads(bytes(problems.render(invalid, "req_12345678", "/v1/x").body))
    assert list(body)[-1] == "errors"
    assert body["errors"] == [{"field": "a", "message": "is required", "code": "REQUIRED"}]


def test_every_list_answers_the_one_page_meta() -> None:
    """Issue 10: every list route (a body with a ``data`` array) answers the same ``meta``."""
    lists = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            schema = operation["responses"].get("200", {}).get("content", {})
            ref = schema.get("application/json", {}).get("schema", {}).get("$ref", "")
            body = SCHEMAS.get(ref.rpartition("/")[2], {})
            if body.get("properties", {}).get("data", {}).get("type") == "array":
                lists.append(f"{method.upper()} {path}")
                assert body["properties"]["meta"] == {"$ref": "#/components/schemas/PageMeta"}
    assert {"GET /v1/invoices", "GET /v1/marketplace", "GET /v1/invest/opportunities"} <= set(lists)
    assert len(lists) >= 6, lists
