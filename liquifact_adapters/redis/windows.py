"""Fixed-window hit counters in Redis, atomic across every process that shares the server."""

from __future__ import annotations

import redis

from liquifact_core.errors import Unavailable

DEFAULT_NAMESPACE = "liquifact:ratelimit:"

# INCR and the first PEXPIRE run as one script, so a window can never lose its expiry (a crash
# between the two commands would otherwise leave a counter that never resets).
_HIT = """
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
"""


class RedisWindowCounter:
    """``hit(key, window_ms)``: the window starts at a key's first hit and lasts ``window_ms``.

    Raises ``Unavailable`` when Redis cannot be reached (the rate limiter then fails open).
    """

    def __init__(self, client: redis.Redis, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._namespace = namespace
        self._client = client
        self._script = client.register_script(_HIT)

    def close(self) -> None:
        """Close the client's connection pool (the counter owns the client it was given)."""
        self._client.close()

    def hit(self, key: str, window_ms: int) -> tuple[int, int]:
        try:
            hits, ttl = self._script(keys=[self._namespace + key], args=[window_ms])
        except redis.RedisError as error:
            raise Unavailable("The rate-limit store is unavailable.") from error
        return int(hits), int(ttl)
