"""How a value becomes bytes: one self-describing file per value (no knowledge of cache layout).

File layout, format version 1 (integers little-endian)::

    0      b"JLC\\x01"          magic; the last byte is the layout generation
    4      u32 H               length of the JSON header (padded with spaces)
    8      JSON header         {"format": 1, "meta": {...}, "pickle": {offset, length, xxh3_64},
                                "compression": null | {method, level, offset, length, size},
                                "arrays": [{offset, nbytes, dtype, shape, order, xxh3_64}], "end"}
    8+H    pickle (protocol 5) with every numpy array replaced by a reference into "arrays"
    ...    each array's raw bytes at a 64-byte aligned offset, in C or Fortran order

With compression, everything after the header is one compressed stream and the offsets
point into the decompressed payload. A tiny value is one small file (one inode, one block);
a large array is a region of the file that ``mmap_mode`` maps in constant time.

Arrays are pulled out in the pickler's ``reducer_override`` rather than ``persistent_id``:
the latter is called for every int and str in the value (a Python call each), the former
only for containers and objects, which cloudpickle inspects anyway; and the pickle memo
then keeps two references to one array as one array after loading.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import xxhash

from jlcache._fs import atomic_write, open_read, write_all
from jlcache.serialize import reader as _reader
from jlcache.serialize.compression import Compressor, normalize_compress
from jlcache.serialize.pickling import _dumps, _restore_array, _restore_strings  # noqa: F401
from jlcache.serialize.reader import FORMAT_VERSION, MAGIC

__all__ = ["dump", "header_length", "load", "normalize_compress", "normalize_mmap_mode",
           "read_header", "read_meta", "read_meta_bytes", "read_meta_from", "read_value",
           "read_kept", "read_mapped_from", "read_value_and_pickle_from", "read_value_bytes", "read_value_from",
           "verify_value_from", "writable_mapping", "write_value"]

SMALL_FILE = 64 * 1024  # files up to this size are read with a single read()
_META_READ = 4096
_DIRECT = 1 << 20  # buffers at least this big are written straight from their memory
_PLACEHOLDER = 999_999_999_999_999  # reserves room in the header for values known after writing
_MMAP_MODES = {None: None, "r": "r", "r+": "r+", "w+": "w+", "c": "c", "readonly": "r",
               "readwrite": "r+", "write": "w+", "copyonwrite": "c"}
_WRITABLE = ("r+", "w+")
_EXTENSIONS = {".z": "zlib", ".gz": "gzip", ".bz2": "bz2", ".lzma": "lzma", ".xz": "xz",
               ".lz4": "lz4"}



# ----------------------------------------------------------------------------- public API
def dump(value: Any, filename: str | os.PathLike, compress: Any = 0, *,
         meta: dict | None = None) -> list[str]:
    """Store ``value`` in one file (atomically); returns ``[str(filename)]`` like joblib.dump.

    Without ``compress``, a joblib compression extension (.z .gz .bz2 .lzma .xz .lz4)
    selects that method, as in joblib.
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(
            f"jlcache.dump writes to a file path (str or pathlib.Path), not a "
            f"{type(filename).__name__}. Pass the file's name instead of an open file."
        )
    if compress in (0, False, None):
        compress = _EXTENSIONS.get(os.path.splitext(os.fspath(filename))[1].lower(), 0)
    write_value(filename, value, meta or {}, compress)
    return [str(filename)]


def load(filename: str | os.PathLike, mmap_mode: str | None = None) -> Any:
    """Read a value written by ``dump``; arrays come back as ``numpy.memmap`` with ``mmap_mode``."""
    return read_value(filename, mmap_mode)[0]


def write_value(path: str | os.PathLike, value: Any, meta: dict, compress: Any = 0, *,
                fsync: bool = False, dir_fd: int | None = None) -> int:
    """Write ``value`` to ``path`` atomically; returns the file's size in bytes.

    The value is pickled before any file is created, so an unpicklable value
    (``UnpicklableValueError``) leaves nothing behind; a failed write (disk full,
    read-only file system) removes its temporary and re-raises. With ``dir_fd`` the file
    goes into that open directory (see ``atomic_write``).
    """
    method, level = normalize_compress(compress)
    data, arrays = _dumps(value)
    plan = _Plan(data, arrays, meta, method, level)
    atomic_write(os.fspath(path), plan.write, fsync=fsync, dir_fd=dir_fd)
    return plan.end


def read_value(path: str | os.PathLike, mmap_mode: str | None = None, *,
               follow_symlinks: bool = True) -> tuple[Any, dict]:
    """Load ``(value, meta)``; ``CorruptEntryError`` for anything damaged or foreign.

    A missing file raises ``FileNotFoundError``; with ``follow_symlinks=False`` a symbolic
    link raises ``OSError(ELOOP)`` instead of being followed.
    """
    mode = normalize_mmap_mode(mmap_mode)
    path = os.fspath(path)
    fd = open_read(path, write=mode in _WRITABLE, follow_symlinks=follow_symlinks)
    try:
        return _reader.Reader(path, fd, _META_READ if mode else SMALL_FILE).value(mode)
    finally:
        os.close(fd)


def read_value_from(fd: int, name: str, mmap_mode: str | None = None,
                    st: os.stat_result | None = None) -> tuple[Any, dict]:
    """``(value, meta)`` from a file the caller opened (and vetted): ``CorruptEntryError``
    for anything damaged. ``name`` only labels messages; ``st`` saves an ``fstat``.

    Why: a store opens entries its own way (relative to a trusted folder, without following
    links, without touching atime) and must not need to know how the format reads them.
    ``mmap_mode`` maps arrays from ``fd``'s file, so the file must be opened for writing
    when ``writable_mapping(mmap_mode)`` says so.
    """
    try:
        mode = _MMAP_MODES[mmap_mode]  # inline: this is on every cache hit
    except (KeyError, TypeError):
        mode = normalize_mmap_mode(mmap_mode)  # raises the explanation
    # mapped: the arrays are not read, so the first read takes the header, not 64 KB
    return _reader.Reader(name, fd, _META_READ if mode else SMALL_FILE, st).value(mode)


def read_value_and_pickle_from(fd: int, name: str, st: os.stat_result | None = None
                               ) -> tuple[Any, dict, bytes | tuple[bytes, dict] | None]:
    """``read_value_from(fd, name, None, st)`` plus what to keep to load it again without
    the file: the validated pickle's bytes (a value without arrays), ``(file bytes,
    header)`` (a small value with arrays: ``read_kept``), or ``None`` (a large one).

    Why: a store may keep a small value's bytes and unpickle them again on the next hit
    (``store.hot``) instead of reading and validating the file again.
    """
    return _reader.Reader(name, fd, SMALL_FILE, st).value_and_pickle()


def read_kept(name: str, data: bytes, header: dict) -> Any:
    """The value of a small file with arrays from what ``read_value_and_pickle_from`` gave
    to keep, for a caller that proved the file unchanged since. The pickle's and arrays'
    checksums are verified again (cheap at this size); every call returns new arrays
    over a new buffer."""
    return _reader.Reader.kept(name, -1, len(data), data, header).value(None)[0]


def read_mapped_from(fd: int, name: str, mmap_mode: str, st: os.stat_result,
                     kept: tuple[bytes, dict] | None = None
                     ) -> tuple[Any, dict, tuple[bytes, dict]]:
    """``read_value_from`` for a read-only mapping (``'r'``, ``'c'``), plus what to keep to
    skip reading and validating the header next time: ``(first bytes, header)``.

    ``kept`` is what an earlier call returned for this file, passed only when the caller
    proved the file unchanged since (``store.hot``: same inode, size and change time); the
    pickle's checksum is still verified. Why: a mapped hit of a large array is otherwise
    mostly the header's read and parse.
    """
    if kept is None:
        reader = _reader.Reader(name, fd, _META_READ, st)
    else:
        reader = _reader.Reader.kept(name, fd, st.st_size, *kept)
    value, meta = reader.value(mmap_mode)
    if kept is not None:
        return value, meta, kept
    header = {**reader.header, "meta": _reader.fresh(meta)}  # not what the caller may change
    return value, meta, (bytes(reader.head[:_META_READ]), header)


def read_value_bytes(data: bytes | bytearray | memoryview, name: str) -> tuple[Any, dict]:
    """``(value, meta)`` from a whole value file held in memory (``CorruptEntryError`` for
    anything damaged or truncated). ``name`` (a URL) only labels messages.

    Why: an object store fetches a small entry in one GET; parsing those bytes directly
    spares a temporary file per hit. Arrays come back in memory (nothing to map).
    """
    return _reader.BytesReader(name, data).value(None)


def read_meta_bytes(head: bytes | bytearray | memoryview, name: str, size: int) -> dict:
    """The metadata of a value file of ``size`` bytes from its first bytes (at least its
    header: ``header_length(head)`` says how many), without the value."""
    return _reader.BytesReader(name, head, size).header["meta"]


def header_length(head: bytes | bytearray | memoryview) -> int:
    """How many bytes from the start of a value file hold its header (magic, length, JSON);
    ``0`` when ``head`` is too short to tell. Lets a remote reader fetch just that range."""
    if len(head) < 8:
        return 0
    return 8 + struct.unpack_from("<I", head, 4)[0]


def read_meta_from(fd: int, name: str, st: os.stat_result | None = None) -> dict:
    """The metadata stored with a value, from an open file, without reading the value."""
    return _reader.Reader(name, fd, _META_READ, st).header["meta"]


def verify_value_from(fd: int, name: str, st: os.stat_result | None = None) -> dict:
    """Check every checksum of the value file open as ``fd`` without unpickling it; returns
    its metadata, or raises ``CorruptEntryError`` naming what is damaged."""
    return _reader.Reader(name, fd, SMALL_FILE, st).check()


def writable_mapping(mmap_mode: str | None) -> bool:
    """Whether loading with ``mmap_mode`` maps the file read-write (``'r+'``/``'w+'``), so
    the file must be opened for writing; ``ValueError`` for a mode that does not exist."""
    try:
        return _MMAP_MODES[mmap_mode] in _WRITABLE  # inline: this is on every cache hit
    except (KeyError, TypeError):
        return normalize_mmap_mode(mmap_mode) in _WRITABLE  # raises the explanation


def read_header(path: str | os.PathLike, *, follow_symlinks: bool = True) -> dict:
    """The whole validated JSON header (one small read for ordinary headers)."""
    path = os.fspath(path)
    fd = open_read(path, follow_symlinks=follow_symlinks)
    try:
        return _reader.Reader(path, fd, _META_READ).header
    finally:
        os.close(fd)


def read_meta(path: str | os.PathLike, *, follow_symlinks: bool = True) -> dict:
    """The caller's metadata stored with a value, without reading the value."""
    return read_header(path, follow_symlinks=follow_symlinks)["meta"]


def normalize_mmap_mode(mmap_mode: str | None) -> str | None:
    """``mmap_mode`` as one of ``None, 'r', 'r+', 'w+', 'c'`` (numpy's long names are
    accepted); ``ValueError`` naming the valid modes otherwise."""
    try:
        return _MMAP_MODES[mmap_mode]
    except (KeyError, TypeError):
        raise ValueError(
            f"mmap_mode={mmap_mode!r} is not valid: use None (load into memory), 'r' "
            "(read-only map), 'r+' (writes go to the file), 'w+' (same as 'r+' for an "
            "existing value) or 'c' (copy-on-write, the file never changes)."
        ) from None


# ----------------------------------------------------------------------------- writing
def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


class _Plan:
    """The header and the order of bytes for one value; ``write(fd)`` streams them."""

    def __init__(self, data: bytes, arrays: list, meta: dict, method: str | None,
                 level: int) -> None:
        self.data, self.arrays, self.method, self.level = data, arrays, method, level
        if arrays:
            from jlcache.serialize.arrays import array_spec

            self.specs = [array_spec(a) for a in arrays]
        else:
            self.specs = []
        self.header: dict = {
            "format": FORMAT_VERSION, "meta": meta,
            "pickle": {"offset": 0, "length": len(data),
                       "xxh3_64": xxhash.xxh3_64_hexdigest(data)},
            "compression": None, "arrays": self.specs, "end": 0,
        }
        self.hlen = self._layout()
        self.end = self.header["end"]

    def _encode(self) -> bytes:
        return json.dumps(self.header, separators=(",", ":"), default=str).encode()

    def _layout(self) -> int:
        """Place every region; the header's own length moves them, so iterate to a fixpoint."""
        hlen = 0
        while True:
            base = 0 if self.method else 8 + hlen
            self.header["pickle"]["offset"] = base
            pos = base + len(self.data)
            for spec in self.specs:
                spec["offset"] = pos = _align(pos)
                pos += spec["nbytes"]
            if self.method:
                self.header["compression"] = {"method": self.method, "level": self.level,
                                              "offset": 8 + hlen, "length": _PLACEHOLDER,
                                              "size": pos}
                self.header["end"] = _PLACEHOLDER
            else:
                self.header["end"] = pos
            text = self._encode()
            if len(text) <= hlen:
                return hlen
            hlen = len(text) + 16

    def _padded_header(self) -> bytes:
        text = self._encode()
        if len(text) > self.hlen:  # pragma: no cover - placeholders reserve enough room
            raise AssertionError("header outgrew its reserved room")
        return MAGIC + struct.pack("<I", self.hlen) + text.ljust(self.hlen)

    def write(self, fd: int) -> None:
        deferred = bool(self.specs) or self.method is not None
        comp = Compressor(self.method, self.level) if self.method else None
        sink = _Sink(fd, 0 if comp else 8 + self.hlen, comp)
        sink.raw(self._padded_header())
        sink.feed(self.data)
        if self.specs:
            from jlcache.serialize.arrays import array_chunks

            for arr, spec in zip(self.arrays, self.specs, strict=True):
                sink.feed(b"\0" * (spec["offset"] - sink.pos))
                digest = xxhash.xxh3_64()
                for chunk in array_chunks(arr, spec["order"]):
                    digest.update(chunk)  # type: ignore[arg-type]  # an ndarray is a buffer
                    sink.feed(chunk)
                spec["xxh3_64"] = digest.hexdigest()
        sink.finish()
        if comp:
            length = sink.written - 8 - self.hlen
            self.header["compression"]["length"] = length
            self.header["end"] = self.end = sink.written
        if deferred:  # checksums and lengths are only known now
            os.pwrite(fd, self._padded_header(), 0)


class _Sink:
    """Buffers small pieces into few writes; big array buffers go straight from their memory."""

    def __init__(self, fd: int, pos: int, comp: Compressor | None) -> None:
        self.fd, self.pos, self.comp = fd, pos, comp
        self.buf = bytearray()
        self.written = 0

    def raw(self, data: Any) -> None:
        n = memoryview(data).nbytes
        self.written += n
        if n >= _DIRECT:
            self._flush()
            write_all(self.fd, data)
            return
        self.buf += memoryview(data)
        if len(self.buf) >= _DIRECT:
            self._flush()

    def feed(self, data: Any) -> None:
        self.pos += memoryview(data).nbytes
        if self.comp is None:
            self.raw(data)
        else:
            out = self.comp.compress(data)
            if out:
                self.raw(out)

    def finish(self) -> None:
        if self.comp is not None:
            self.raw(self.comp.flush())
        self._flush()

    def _flush(self) -> None:
        if self.buf:
            write_all(self.fd, self.buf)
            self.buf = bytearray()
