"""One error tree for the whole domain.

Every error carries a stable machine ``code``; the HTTP shell maps classes to statuses and
never shows anything but ``message`` (which must be safe to show) and ``field_errors``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class FieldError:
    """One invalid input field: its wire name and what is wrong with it."""

    field: str
    message: str
    code: str = "INVALID_VALUE"


class LiquifactError(Exception):
    """Base of every domain error. ``message`` is safe to show to API clients."""

    code = "LIQUIFACT_ERROR"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field_errors: Sequence[FieldError] = (),
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.field_errors: tuple[FieldError, ...] = tuple(field_errors)


class ValidationError(LiquifactError):
    """Input breaks a rule; fixing the input fixes the call."""

    code = "VALIDATION_ERROR"

    @classmethod
    def for_field(cls, field: str, message: str, code: str = "INVALID_VALUE") -> ValidationError:
        """One bad field; the specific ``code`` goes on the field, the error stays generic."""
        return cls(f"{field} {message}", field_errors=[FieldError(field, message, code)])


class NotFound(LiquifactError):
    """The resource does not exist for this caller (or is hidden from it)."""

    code = "NOT_FOUND"


class Conflict(LiquifactError):
    """The request clashes with the current state of a resource."""

    code = "CONFLICT"


class InvalidTransition(Conflict):
    """A lifecycle transition that the transition table does not allow."""

    code = "INVALID_TRANSITION"

    def __init__(self, current: str, target: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"Cannot move an invoice from '{current}' to '{target}'. Allowed: {allowed_text}."
        )
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)


class StaleVersion(LiquifactError):
    """The caller's version of a resource is not the current one (optimistic concurrency)."""

    code = "PRECONDITION_FAILED"


class Forbidden(LiquifactError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"


class Unauthenticated(LiquifactError):
    """The caller could not be identified."""

    code = "AUTHENTICATION_REQUIRED"


class Unavailable(LiquifactError):
    """A dependency is down or overloaded; the same call may succeed later."""

    code = "SERVICE_UNAVAILABLE"
    retryable = True
