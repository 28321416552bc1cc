"""What a function *is*: its normalized code plus everything it depends on.

``functions`` computes identities; ``source`` analyses code objects; ``callables`` finds
the function behind a callable; ``origin`` tells user code from installed packages.
"""
from jlcache.hashing import hash  # complete now: functions inside values hash by identity
from jlcache.identity.functions import (
    FunctionIdentity,
    function_token,
    identify,
    unwrap,
)

__all__ = ["FunctionIdentity", "function_token", "hash", "identify", "unwrap"]
