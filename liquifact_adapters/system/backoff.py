"""Retry delays for background jobs (``liquifact_core.jobs.Backoff``), computed by tenacity's
wait strategies so the formula is the maintained library's, not ours."""

from __future__ import annotations

import random
from datetime import timedelta

from tenacity import RetryCallState, Retrying, wait_random_exponential

# The spec's webhook defaults (WEBHOOK_BASE_DELAY, WEBHOOK_MAX_DELAY), in milliseconds.
DEFAULT_BASE_DELAY_MS = 500
DEFAULT_MAX_DELAY_MS = 10_000


class _SeededRandomExponential(wait_random_exponential):
    """tenacity's ``wait_random_exponential`` (a uniformly random wait between ``min`` and an
    exponentially growing, capped ceiling) drawing from a given random source instead of the
    module-wide one, so tests can make it deterministic."""

    def __init__(self, rng: random.Random, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self._rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        # wait_exponential (the parent of wait_random_exponential) gives the ceiling.
        high = super(wait_random_exponential, self).__call__(retry_state)
        return self._rng.uniform(self.min, high)


class ExponentialBackoff:
    """Bounded exponential backoff with jitter: after the n-th failed attempt, a delay drawn
    uniformly from [base, min(base * 2^(n-1), cap)]. So the first retry waits ``base``, the
    window doubles per attempt, and no delay is below ``base`` or above ``cap``.

    ``base_ms`` and ``cap_ms`` are milliseconds (0 < base <= cap); ``rng`` is the random
    source (default: one seeded by the OS).
    """

    def __init__(
        self,
        base_ms: int = DEFAULT_BASE_DELAY_MS,
        cap_ms: int = DEFAULT_MAX_DELAY_MS,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < base_ms <= cap_ms:
            raise ValueError("Backoff delays need 0 < base <= cap.")
        self.base = timedelta(milliseconds=base_ms)
        self.cap = timedelta(milliseconds=cap_ms)
        self._wait = _SeededRandomExponential(
            rng or random.Random(),  # noqa: S311 - jitter, not a secret
            multiplier=base_ms / 1000,
            min=base_ms / 1000,
            max=cap_ms / 1000,
        )
        self._retrying = Retrying()

    def delay(self, attempt: int) -> timedelta:
        """The wait after ``attempt`` (>= 1) failed attempts."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        state = RetryCallState(self._retrying, None, (), {})
        state.attempt_number = attempt
        seconds = self._wait(state)
        # Rounded to whole microseconds, then clamped: float rounding must not leave the bounds.
        return min(max(timedelta(seconds=seconds), self.base), self.cap)
