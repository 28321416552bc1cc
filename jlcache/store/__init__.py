"""Where cache bytes live: the ``Store`` interface, the local store, its layout and upkeep.

``Store`` (``base``) is what callers use; ``open_store`` (``factory``) picks the
implementation for a location; ``LocalStore`` (``local``) is a directory on this machine.
"""
from jlcache.store.base import Store
from jlcache.store.factory import is_url, open_store
from jlcache.store.layout import KINDS, EntryInfo, EntryRef, group_name, parse_age, parse_size
from jlcache.store.local import FORMAT, LocalStore

__all__ = ["FORMAT", "KINDS", "EntryInfo", "EntryRef", "LocalStore", "Store", "group_name",
           "is_url", "open_store", "parse_age", "parse_size"]
