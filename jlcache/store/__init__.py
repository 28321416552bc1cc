"""Where cache bytes live: the local on-disk store, its layout and its housekeeping."""
from jlcache.store.layout import EntryInfo, EntryRef, group_name, parse_age, parse_size
from jlcache.store.local import FORMAT, Store

__all__ = ["FORMAT", "EntryInfo", "EntryRef", "Store", "group_name", "parse_age", "parse_size"]
