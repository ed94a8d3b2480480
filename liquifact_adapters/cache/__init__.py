"""In-process cache and rate-limit counters: one process only, nothing shared, nothing kept.

``InProcessCache`` implements the core ``Cache`` port (LRU bound + TTL);
``InProcessWindowCounter`` counts fixed-window hits for the HTTP rate limiter. Both keep their
entries in ``cachetools.TLRUCache`` (per-entry expiry, least-recently-used bound). For many
processes use the Redis adapters.
"""

from liquifact_adapters.cache.lru import InProcessCache
from liquifact_adapters.cache.windows import InProcessWindowCounter

__all__ = ["InProcessCache", "InProcessWindowCounter"]
