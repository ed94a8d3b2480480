"""Response bodies as attrs classes: the ``Representation`` base and its ``out`` fields.

One class gives both the JSON a route sends (``wire.unstructure``: camelCase names) and its
schema in the OpenAPI document (``schemas.response_schema``). This module imports only attrs and
the core's field-metadata names, so the problem renderer, which most HTTP modules import, can
build its bodies from it without an import cycle.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from liquifact_core.rules import RULE, WIRE, Rule

Object = dict[str, Any]
OMIT_NONE = "omit_none"


class Representation:
    """Base of response bodies (attrs classes).

    ``component`` is the body's name under ``components/schemas`` when the document gives it
    one: a field, list item or map value of that type is then a ``$ref`` to it; without one
    its schema is written in place.
    """

    component: ClassVar[str | None] = None


def out(
    schema: Object | None = None,
    *,
    rule: Rule | None = None,
    ref: str | None = None,
    nullable: bool = False,
    omit_none: bool = False,
    keys: list[str] | None = None,
    wire: str | None = None,
    like: tuple[type[Any], str] | None = None,
) -> Any:
    """A response field: its JSON Schema from ``rule`` (a command rule), ``like`` (the same
    schema as a command's field, e.g. ``(InvoiceDraft, "buyer_name")``), ``ref`` (a component
    schema), or its Python type, refined by ``schema`` (pattern, enum, description ...).

    ``nullable``: always sent, possibly null. ``omit_none``: optional, defaults to None, and
    left out of the JSON (not sent as null) while None; not listed as required. Having a default,
    such fields come after those without one (attrs insists), as they do in the JSON. ``keys``: a
    ``dict`` field holding exactly these keys (a closed object, each value of the dict's value
    type). ``wire``: the JSON name when it is not the camelCase of the attribute name.
    """
    metadata = {
        "schema": schema or {},
        RULE: rule,
        "ref": ref,
        "nullable": nullable,
        OMIT_NONE: omit_none,
        "keys": keys,
        WIRE: wire,
        "like": like,
    }
    if omit_none:
        return attrs.field(default=None, metadata=metadata)
    return attrs.field(metadata=metadata)
