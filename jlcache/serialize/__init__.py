"""How a value becomes bytes and back: the self-describing ``.jlc`` file format.

``format`` writes values; ``reader`` validates and reads them; ``pickling`` decides what
goes in a value's pickle; ``arrays`` places numpy arrays as raw aligned regions;
``compression`` is one streaming API over the codecs.
"""
from jlcache.serialize.class_state import (  # noqa: F401 - pickled by reference
    make_cached_property,
    make_class,
    set_class_state,
)
from jlcache.serialize.format import (
    _restore_array,  # noqa: F401 - pickled by reference in every file that holds arrays
    _restore_strings,  # noqa: F401 - pickled by reference: string columns stored as arrays
    dump,
    header_length,
    load,
    normalize_compress,
    normalize_mmap_mode,
    read_header,
    read_kept,
    read_mapped_from,
    read_meta,
    read_meta_bytes,
    read_meta_from,
    read_value,
    read_value_and_pickle_from,
    read_value_bytes,
    read_value_from,
    verify_value_from,
    writable_mapping,
    write_value,
)

__all__ = ["dump", "header_length", "load", "normalize_compress", "normalize_mmap_mode",
           "read_header", "read_meta", "read_meta_bytes", "read_meta_from", "read_value",
           "read_kept", "read_mapped_from", "read_value_and_pickle_from", "read_value_bytes", "read_value_from",
           "verify_value_from", "writable_mapping", "write_value"]
