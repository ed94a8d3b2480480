"""The Soroban RPC's circuit breaker (pybreaker) and retries (tenacity) for read calls.

Spec (original README, "Circuit Breaker"): CLOSED -> (``SOROBAN_CB_FAILURE_THRESHOLD``
consecutive failures, default 5) -> OPEN -> (``SOROBAN_CB_RECOVERY_TIMEOUT`` milliseconds,
default 10000) -> HALF_OPEN -> one trial call: success CLOSED, failure OPEN. An open breaker
fails at once without calling the RPC. Every transition is reported as ``(breaker_name,
state)`` with the spec's state names ``CLOSED``, ``OPEN``, ``HALF_OPEN`` (the HTTP shell counts
them in ``soroban_circuit_breaker_state_transitions_total``).

pybreaker holds its lock for the whole guarded call, so one breaker would let only one RPC
request run at a time (every request thread of the server waiting behind a slow RPC);
``ConcurrentBreaker`` keeps pybreaker's state machine, counters, listeners and transitions and
drops that lock around calls made while the breaker is closed. While it is open or half-open,
one call at a time goes through (the spec's single trial call); the others fail at once.

Retries: only transient failures (connection refused or reset, timeouts, HTTP 5xx), only
around read calls (simulation, getEvents, getLatestLedger, getHealth: repeating them changes
nothing), each attempt going through the breaker, so every failed attempt counts towards the
threshold and an opened breaker stops the retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import pybreaker
from stellar_sdk import exceptions as sdk_errors
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

T = TypeVar("T")

StateListener = Callable[[str, str], None]
"""Told ``(breaker_name, state)`` on every transition; state is CLOSED, OPEN or HALF_OPEN."""

SPEC_STATES = {
    pybreaker.STATE_CLOSED: "CLOSED",
    pybreaker.STATE_OPEN: "OPEN",
    pybreaker.STATE_HALF_OPEN: "HALF_OPEN",
}
# JSON-RPC codes that say our request was refused (the RPC itself is up): not retried and not
# counted against the breaker.
CLIENT_RPC_ERRORS = frozenset({-32600, -32602})


class TransientFailure(Exception):
    """The RPC could not be reached or answered 5xx / timed out: worth another attempt."""


class RpcFailure(Exception):
    """The RPC answered with an error or an answer we cannot read: not retried."""


class RefusedRequest(Exception):
    """The RPC refused our request as invalid (-32600/-32602): the RPC is up."""


@attrs.frozen
class ResilienceSettings:
    """``failure_threshold``: consecutive failures before the breaker opens (>= 1);
    ``recovery_timeout_ms``: milliseconds an open breaker waits before a trial call (>= 0);
    ``retries``: extra attempts after a transient failure (>= 0); ``retry_delay_ms``: first
    wait between attempts, doubled each time up to 2 s (>= 0)."""

    failure_threshold: int = 5
    recovery_timeout_ms: int = 10_000
    retries: int = 2
    retry_delay_ms: int = 100


class ConcurrentBreaker(pybreaker.CircuitBreaker):
    """A pybreaker ``CircuitBreaker`` whose closed state lets calls run concurrently."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Reentrant: an open breaker whose timeout has passed moves to half-open and calls
        # ``call`` again for the trial, in the same thread.
        self._trial = threading.RLock()

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.current_state == pybreaker.STATE_CLOSED:
            return self.state.call(func, *args, **kwargs)
        if not self._trial.acquire(blocking=False):
            raise pybreaker.CircuitBreakerError("A trial call is in flight; the circuit is open")
        try:
            return self.state.call(func, *args, **kwargs)
        finally:
            self._trial.release()


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, report: StateListener) -> None:
        self._report = report

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._report(cb.name or "soroban", SPEC_STATES.get(new_state.name, new_state.name))


class GuardedRpc:
    """Runs RPC calls through one named breaker, retrying transient failures."""

    def __init__(
        self,
        name: str,
        settings: ResilienceSettings,
        on_state_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        listeners = [_Listener(on_state_change)] if on_state_change is not None else []
        self.breaker = ConcurrentBreaker(
            fail_max=settings.failure_threshold,
            reset_timeout=settings.recovery_timeout_ms / 1000,
            exclude=[RefusedRequest],
            listeners=listeners,
            name=name,
        )

    @property
    def state(self) -> str:
        """The breaker's state by the spec's name (CLOSED, OPEN, HALF_OPEN)."""
        return SPEC_STATES[self.breaker.current_state]

    def call_once(self, operation: Callable[[], T]) -> T:
        """``operation()`` through the breaker, never retried (for calls that are not safe to
        repeat blindly, e.g. ``sendTransaction``). Raises as ``call``."""
        result: T = self.breaker.call(_classified, operation)
        return result

    def call(self, operation: Callable[[], T]) -> T:
        """``operation()`` through the breaker with retries. Raises ``TransientFailure``,
        ``RpcFailure`` or ``RefusedRequest`` (from the last attempt) or
        ``pybreaker.CircuitBreakerError`` (open, or opened by this call)."""
        delay = self._settings.retry_delay_ms / 1000
        for attempt in Retrying(
            stop=stop_after_attempt(self._settings.retries + 1),
            wait=wait_exponential(multiplier=delay, min=delay, max=max(delay, 2.0)),
            retry=retry_if_exception_type(TransientFailure),
            reraise=True,
        ):
            with attempt:
                result: T = self.breaker.call(_classified, operation)
                return result
        raise AssertionError("unreachable: tenacity re-raises the last failure")


def _classified(operation: Callable[[], T]) -> T:
    """Run ``operation`` and sort the stellar-sdk failures into the three kinds above."""
    try:
        return operation()
    except sdk_errors.SorobanRpcErrorResponse as error:
        if error.code in CLIENT_RPC_ERRORS:
            raise RefusedRequest(error.code) from error
        raise RpcFailure(error.code) from error
    except (sdk_errors.ConnectionError, sdk_errors.BadResponseError) as error:
        raise TransientFailure(type(error).__name__) from error
    except (sdk_errors.BaseRequestError, ValueError) as error:
        # 4xx, odd statuses, a non-JSON or malformed body (JSONDecodeError and pydantic's
        # ValidationError are ValueErrors).
        raise RpcFailure(type(error).__name__) from error
