"""JSON and query strings <-> typed commands: the one cattrs ``Converter`` of the API.

Configured once, here: camelCase names (``rules.wire_name``), unknown keys refused, and every
field structured by the rule in its attrs metadata (``liquifact_core.rules``), which holds the
domain's hooks for text, dates, Money/Decimal, Stroops, Stellar addresses and enums. cattrs
collects the failure of every field (``ClassValidationError``); ``structure`` turns that group
into the core's ``ValidationError`` with one ``FieldError`` per bad field, which the problem
renderer shows as ``errors: [{field, message, code}]`` (a 400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from liquifact_core.errors import FieldError, ValidationError
from liquifact_core.rules import (
    ABSENT,
    Checked,
    MoneyAmount,
    SetOf,
    WirePair,
    check_field,
    check_fields,
    cross_field_errors_of,
    rule_of,
    wire_name,
)
from liquifact_http.response_fields import OMIT_NONE, Representation

T = TypeVar("T")
UNKNOWN_FIELD = "is not a known field"
UNKNOWN_PARAMETER = "is not a known query parameter"
REPEATED_PARAMETER = "REPEATED_PARAMETER"

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _field_hook(field: attrs.Attribute[Any]) -> Callable[[Any, Any], Any]:
    def hook(raw: Any, _type: Any) -> Any:
        return check_field(field, raw)

    return hook


def _checked_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    overrides: dict[str, Any] = {
        field.name: override(rename=wire_name(field), struct_hook=_field_hook(field))
        for field in attrs.fields(cls)
    }
    return make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=True,
        _cattrs_detailed_validation=True,
        **overrides,
    )


converter.register_structure_hook_factory(
    lambda kind: isinstance(kind, type) and issubclass(kind, Checked) and attrs.has(kind),
    _checked_hook,
)


def _representation_hook(cls: type[Any]) -> Callable[[Any], Any]:
    overrides: dict[str, Any] = {
        field.name: override(
            rename=wire_name(field),
            # ``out(omit_none=True)`` fields default to None: left out while they are.
            omit_if_default=bool(field.metadata.get(OMIT_NONE)),
        )
        for field in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, converter, **overrides)


# Response bodies (``response_fields.Representation``): wire (camelCase) keys; every field
# present, null where None, except ``omit_none`` fields, absent while None.
converter.register_unstructure_hook_factory(
    lambda kind: isinstance(kind, type) and issubclass(kind, Representation) and attrs.has(kind),
    _representation_hook,
)


def unstructure(body: Any) -> Any:
    """A response body (a ``Representation``) as plain JSON data."""
    return converter.unstructure(body)


def structure(payload: Any, cls: type[T], *, unknown: str = UNKNOWN_FIELD) -> T:
    """``payload`` (a decoded JSON object) as a ``cls`` command.

    Raises the command's ``ValidationError`` (``cls.invalid``) listing every bad field: unknown
    keys first (UNKNOWN_FIELD), then each field in declaration order with its rule's code,
    then the cross-field rules (e.g. DUE_BEFORE_ISSUE).
    """
    if not isinstance(payload, Mapping):
        raise ValidationError("The request body must be a JSON object.")
    kind: Any = cls
    data = _pair_up(kind, payload)
    try:
        return converter.structure(data, cls)
    except ClassValidationError as group:
        if _only_instantiation(group) and len(group.exceptions) == 1:
            own = group.exceptions[0]
            if isinstance(own, ValidationError):  # the class's own verdict, already complete
                raise own from None
        errors = field_errors(kind, group, unknown)
        values = {
            field.name: data[wire_name(field)]
            for field in attrs.fields(kind)
            if wire_name(field) in data
        }
        parsed, _ = check_fields(kind, values)
        if not _only_instantiation(group):  # else the class already applied its cross rules
            errors.extend(cross_field_errors_of(kind, parsed, errors))
        raise cls.invalid(errors) from None  # type: ignore[attr-defined]


def _only_instantiation(group: ClassValidationError) -> bool:
    return all(_attribute_of(exc) is None for exc in group.exceptions) and not any(
        isinstance(exc, ForbiddenExtraKeysError) for exc in group.exceptions
    )


def _pair_up(cls: type[Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Fold the two wire fields of a ``MoneyAmount`` (amount, currency) into one value."""
    data = dict(payload)
    for field in attrs.fields(cls):
        rule = rule_of(field)
        if isinstance(rule, MoneyAmount):
            data[wire_name(field)] = WirePair(
                data.pop(rule.amount_wire, ABSENT), data.pop(rule.currency_wire, ABSENT)
            )
    return data


def _attribute_of(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return note.name
    return None


def field_errors(
    cls: type[Any], group: ClassValidationError, unknown: str = UNKNOWN_FIELD
) -> list[FieldError]:
    """cattrs' error group as one ``FieldError`` per problem, unknown keys first."""
    fields = {field.name: field for field in attrs.fields(cls)}
    unknown_errors: list[FieldError] = []
    errors: list[FieldError] = []
    for exc in group.exceptions:
        attribute = _attribute_of(exc)
        if isinstance(exc, ForbiddenExtraKeysError):
            unknown_errors.extend(
                FieldError(name, unknown, "UNKNOWN_FIELD") for name in sorted(exc.extra_fields)
            )
        elif isinstance(exc, ValidationError):
            errors.extend(exc.field_errors or [FieldError("", exc.message, exc.code)])
        elif isinstance(exc, KeyError) and attribute in fields:
            errors.append(FieldError(wire_name(fields[attribute]), "is required", "REQUIRED"))
        else:
            name = wire_name(fields[attribute]) if attribute in fields else ""
            errors.append(FieldError(name, "is not valid", "INVALID_VALUE"))
    return unknown_errors + errors


def structure_query(items: Iterable[tuple[str, str]], cls: type[T]) -> T:
    """Query parameters (name, value pairs in request order) as a ``cls`` query.

    Each parameter may appear once, except set-valued ones (``SetOf`` rule), whose repeats
    combine (their union). Every unknown, repeated or bad parameter gets its own entry.
    """
    kind: Any = cls
    fields = {wire_name(field): field for field in attrs.fields(kind)}
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        grouped.setdefault(name, []).append(value)
    values: dict[str, Any] = {}
    repeated: list[FieldError] = []
    for name, given in grouped.items():
        field = fields.get(name)
        if field is not None and isinstance(rule_of(field), SetOf):
            values[name] = given
        elif field is not None and len(given) > 1:
            repeated.append(FieldError(name, "must be given only once", REPEATED_PARAMETER))
        else:
            values[name] = given[-1]
    try:
        query = structure(values, cls, unknown=UNKNOWN_PARAMETER)
    except ValidationError as error:
        raise cls.invalid(_merge(repeated, error.field_errors)) from None  # type: ignore[attr-defined]
    if repeated:
        raise cls.invalid(repeated)  # type: ignore[attr-defined]
    return query


def _merge(first: Sequence[FieldError], second: Sequence[FieldError]) -> list[FieldError]:
    return [*first, *second]


def refuse_query(items: Iterable[tuple[str, str]]) -> None:
    """For routes that take no query parameters: every parameter is an error of its own."""
    names = sorted({name for name, _ in items})
    if names:
        errors = [FieldError(name, UNKNOWN_PARAMETER, "UNKNOWN_FIELD") for name in names]
        if len(errors) == 1:
            raise ValidationError(f"{names[0]} {UNKNOWN_PARAMETER}", field_errors=errors)
        raise ValidationError("The query has unknown parameters.", field_errors=errors)


@attrs.frozen
class NoFields:
    """The command of bodies that take no fields (approve): the body may be omitted or ``{}``;
    ``refuse_fields`` refuses every key. Gives those bodies their schema
    (``schemas.body_schema``)."""


def refuse_fields(payload: Mapping[str, Any]) -> None:
    """For bodies that take no fields (e.g. approve): every key is an unknown field."""
    names = sorted(payload)
    if names:
        errors = [FieldError(name, UNKNOWN_FIELD, "UNKNOWN_FIELD") for name in names]
        raise ValidationError(f"{names[0]} {UNKNOWN_FIELD}", field_errors=errors)
