"""Content hashing: a canonical, framed, type-tagged byte stream fed into xxh3-128.

``hasher`` holds the stream and the dispatch on types; ``objects`` and ``arrays`` hold the
encodings of structured objects and of numpy/pandas values.
"""
from jlcache.hashing.hasher import Hasher, hash

__all__ = ["Hasher", "hash"]
