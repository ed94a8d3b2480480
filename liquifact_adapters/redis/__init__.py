"""Redis adapters, shared by every API process pointed at the same ``REDIS_URL``.

``RedisCache`` implements the core ``Cache`` port; ``RedisWindowCounter`` counts fixed-window
hits for the HTTP rate limiter atomically (one Lua script per hit).
"""

from liquifact_adapters.redis.cache import RedisCache
from liquifact_adapters.redis.client import connect
from liquifact_adapters.redis.windows import RedisWindowCounter

__all__ = ["RedisCache", "RedisWindowCounter", "connect"]
