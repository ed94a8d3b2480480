"""The Soroban RPC's breaker (liquifact_adapters.soroban.resilience): pybreaker's state machine,
but calls run concurrently while it is closed, and only one trial call passes while it is not.

Threads meet on events; the waits are bounds against a hang, never measurements."""

from __future__ import annotations

import threading

import pybreaker
import pytest
from stellar_sdk import exceptions as sdk_errors

from liquifact_adapters.soroban.resilience import (
    GuardedRpc,
    ResilienceSettings,
    RpcFailure,
    TransientFailure,
)

BOUND = 10  # seconds: only ever reached if the code under test hangs


def guarded(threshold: int = 5, recovery_ms: int = 600_000) -> tuple[GuardedRpc, list[str]]:
    states: list[str] = []
    rpc = GuardedRpc(
        "soroban",
        ResilienceSettings(failure_threshold=threshold, recovery_timeout_ms=recovery_ms, retries=0),
        lambda _name, state: states.append(state),
    )
    return rpc, states


def blocked_call(rpc: GuardedRpc) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """Start a call in another thread that blocks inside the breaker until released."""
    entered, release = threading.Event(), threading.Event()

    def slow() -> str:
        entered.set()
        release.wait(BOUND)
        return "slow"

    thread = threading.Thread(target=rpc.call, args=(slow,))
    thread.start()
    assert entered.wait(BOUND)
    return thread, entered, release


def test_closed_breaker_lets_calls_run_side_by_side() -> None:
    rpc, _ = guarded()
    thread, _, release = blocked_call(rpc)
    try:
        done = threading.Event()

        def fast() -> None:
            rpc.call(lambda: "fast")
            done.set()

        threading.Thread(target=fast).start()

        # pybreaker's own call() holds its lock for the call: this one would wait for `slow`.
        assert done.wait(BOUND)
    finally:
        release.set()
        thread.join(BOUND)


def test_only_one_trial_call_while_half_open() -> None:
    rpc, states = guarded(threshold=1, recovery_ms=0)

    def down() -> None:
        raise sdk_errors.ConnectionError("refused")

    with pytest.raises(pybreaker.CircuitBreakerError):  # this failure opened it
        rpc.call(down)
    assert states == ["OPEN"]

    thread, _, release = blocked_call(rpc)  # the trial
    try:
        assert states == ["OPEN", "HALF_OPEN"]
        with pytest.raises(pybreaker.CircuitBreakerError):
            rpc.call(lambda: "second")
    finally:
        release.set()
        thread.join(BOUND)

    assert states == ["OPEN", "HALF_OPEN", "CLOSED"]
    assert rpc.call(lambda: "after") == "after"


def test_failures_are_sorted() -> None:
    rpc, _ = guarded()

    def refused() -> None:
        raise sdk_errors.ConnectionError("refused")

    def rpc_error() -> None:
        raise sdk_errors.SorobanRpcErrorResponse(-32603, "internal", None)

    def bad_json() -> None:
        raise ValueError("not json")

    with pytest.raises(TransientFailure):
        rpc.call(refused)
    with pytest.raises(RpcFailure):
        rpc.call(rpc_error)
    with pytest.raises(RpcFailure):
        rpc.call(bad_json)
    assert rpc.breaker.fail_counter == 3
