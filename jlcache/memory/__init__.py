"""joblib-compatible ``Memory``: cached functions, their results, keys and locks."""
from jlcache.memory.memory import (
    MISS,
    AsyncMemorizedFunc,
    CacheKey,
    MemorizedFunc,
    MemorizedResult,
    Memory,
    NotMemorizedFunc,
    NotMemorizedResult,
    expires_after,
)

__all__ = ["MISS", "AsyncMemorizedFunc", "CacheKey", "MemorizedFunc", "MemorizedResult",
           "Memory", "NotMemorizedFunc", "NotMemorizedResult", "expires_after"]
