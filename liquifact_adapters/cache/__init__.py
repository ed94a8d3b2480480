"""In-process cache and rate-limit counters: one process only, nothing shared, nothing kept.

``InProcessCache`` implements the core ``Cache`` port (LRU bound + TTL);
``InProcessWindowCounter`` counts fixed-window hits for the HTTP rate limiter. Both keep their
entries in ``cachetools.TLRUCache`` (per-entry expiry, least-recently-used bound). For many
processes use the Redis adapters.
``CacheInvalidation`` maps the core's change events to the cache-key prefixes they make stale
(for any ``Cache``, in-process or Redis).
"""

from liquifact_adapters.cache.invalidation import CacheInvalidation
from liquifact_adapters.cache.lru import InProcessCache
from liquifact_adapters.cache.windows import InProcessWindowCounter

__all__ = ["CacheInvalidation", "InProcessCache", "InProcessWindowCounter"]
