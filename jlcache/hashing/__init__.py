"""Content hashing: a canonical, framed, type-tagged byte stream fed into xxh3-128.

``hasher`` holds the stream and the dispatch on types; ``objects`` and ``arrays`` hold the
encodings of structured objects and of numpy/pandas values.
Functions and classes are hashed by their identity, which ``jlcache.identity`` registers
here when it is imported (``register_callable_token``); ``jlcache.hash`` always has it.
"""
from jlcache.hashing.hasher import Hasher, hash, register, register_callable_token

__all__ = ["Hasher", "hash", "register", "register_callable_token"]
