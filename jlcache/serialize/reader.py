"""Reading a value file back: validate everything, then unpickle with arrays attached.

The counterpart of the writer in ``serialize.py`` (the layout is described there). Every
check that fails raises ``CorruptEntryError`` naming the file and what is wrong; nothing
is trusted before it is checked (magic, header JSON, version, region bounds, checksums).
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import struct
import threading
import warnings
from typing import Any

import xxhash

from jlcache._fs import PROCESS_ERRNOS
from jlcache.errors import CacheWarning, CorruptEntryError
from jlcache.serialize.compression import decompress_into, normalize_compress

__all__ = ["FORMAT_VERSION", "MAGIC", "BytesReader", "Reader", "fresh", "local"]

MAGIC = b"JLC\x01"
FORMAT_VERSION = 1

_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__
local = threading.local()  # .sources: stack of ArraySource for the unpickling in progress
_warned_compressed_mmap = False
_arrays: Any = None  # jlcache.serialize.arrays, once needed


# ----------------------------------------------------------------------------- reading
def _warn_compressed_mmap(path: str) -> None:
    global _warned_compressed_mmap
    if _warned_compressed_mmap:
        return
    _warned_compressed_mmap = True
    warnings.warn(
        f"Compressed values cannot be memory-mapped: the arrays in {path} (and in any other "
        "compressed value) are loaded into memory despite mmap_mode. Store without "
        "compress to get constant-time memory-mapped loads. (Shown once per process.)",
        CacheWarning, stacklevel=4,
    )


def _nonneg(x: Any) -> int:
    if type(x) is not int or x < 0:
        raise ValueError(f"{x!r} is not a byte count")
    return x


def _array_error() -> type:
    from jlcache.serialize.arrays import ArrayError

    return ArrayError


# Starts of files written by joblib.dump / pickle.dump (joblib's compressors included).
_FOREIGN = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "xz"), (b"\x5d\x00\x00", "lzma"),
            (b"\x04\x22\x4d\x18", "lz4"), (b"ZF", "zlib"))


def _foreign_kind(head: bytes) -> str:
    """What wrote a file that is not ours, when its first bytes say so; else ``""``."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a pickle file (protocol {head[1]}; joblib.dump or pickle.dump writes these)"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "a zlib-compressed file (joblib.dump with compress= writes these)"
    for magic, name in _FOREIGN:
        if head.startswith(magic):
            return f"a file compressed with {name} (joblib.dump with compress= writes these)"
    return ""


def fresh(meta: dict) -> dict:
    """A copy of ``meta`` whose dict and list values are copies too: the caller's to change."""
    return {k: v.copy() if type(v) is dict or type(v) is list else v for k, v in meta.items()}


class Reader:
    """One open value file: validates the header, then produces the value."""

    specs_checked = False  # the array table was checked (by this reader or an earlier one)

    def __init__(self, path: str, fd: int, first: int, st: os.stat_result | None = None) -> None:
        self.path, self.fd = path, fd
        st = os.fstat(fd) if st is None else st
        if not stat.S_ISREG(st.st_mode):
            raise self.corrupt("it is not a regular file")
        self.size = st.st_size
        self.head = self._pread(0, min(self.size, first))  # small files: all of it, one read
        self.header = self._parse_header()

    @classmethod
    def kept(cls, path: str, fd: int, size: int, head: bytes, header: dict) -> Reader:
        """A reader of a file whose ``head`` and validated ``header`` an earlier reader
        produced, when the caller proved the file unchanged since (same inode, size and
        change time): nothing is read or checked again but the pickle's checksum."""
        self = cls.__new__(cls)
        self.path, self.fd, self.size, self.head = path, fd, size, head
        self.hlen = struct.unpack_from("<I", head, 4)[0]
        self.header = {**header, "meta": fresh(header["meta"])}
        self.specs_checked = True
        return self

    def corrupt(self, what: str) -> CorruptEntryError:
        return CorruptEntryError(
            f"{self.path} is not a valid jlcache value file: {what}. Likely cause: a write "
            "interrupted by a crash or a full disk, a file changed by another program, or "
            "another jlcache version. A cache treats it as missing and recomputes it; "
            "otherwise write it again or delete it."
        )

    def _pread(self, offset: int, length: int) -> bytes | bytearray:
        data = os.pread(self.fd, length, offset)
        if len(data) == length:
            return data
        buf = bytearray(length)  # a short read: huge regions (> 2 GiB) or a truncated file
        buf[:len(data)] = data
        view, pos = memoryview(buf)[len(data):], offset + len(data)
        while view:
            n = os.preadv(self.fd, [view], pos)
            if n == 0:
                raise self.corrupt(f"it ends at byte {pos}, before the {offset + length} bytes "
                                   "its layout needs (truncated)")
            view, pos = view[n:], pos + n
        return buf

    def region(self, offset: int, length: int) -> memoryview:
        if offset + length <= len(self.head):
            return memoryview(self.head)[offset:offset + length]
        return memoryview(self._pread(offset, length))

    def _not_ours(self) -> CorruptEntryError:
        """Why a file that does not start with our 8 bytes cannot be read (run only then:
        a file starting with the magic is none of the foreign kinds)."""
        foreign = _foreign_kind(bytes(self.head[:6]))
        if foreign:
            return CorruptEntryError(
                f"{self.path} is {foreign}, not a jlcache value file. jlcache.load reads only "
                "files written by jlcache.dump; read this one with joblib.load (or "
                "pickle.load), or write it again with jlcache.dump."
            )
        if self.size < 8:
            return self.corrupt(f"it is only {self.size} bytes long (truncated)")
        if self.head[:3] == MAGIC[:3]:
            return self.corrupt(f"its layout generation {self.head[3]} is not the one this "
                                "jlcache reads (1)")
        return self.corrupt("it does not start with the jlcache magic bytes")

    def _parse_header(self) -> dict:
        if self.size < 8 or self.head[:4] != MAGIC:
            raise self._not_ours()
        (hlen,) = struct.unpack_from("<I", self.head, 4)
        self.hlen = hlen
        if 8 + hlen > self.size:
            raise self.corrupt(f"its header needs {hlen} bytes but the file is {self.size} "
                               "bytes long (truncated)")
        try:
            raw = self.head[8:8 + hlen] if 8 + hlen <= len(self.head) else self.region(8, hlen)
            text = bytes(raw).decode()
            header, end = _scan_json(text, 0)  # json.loads minus its pure-Python wrapping
            if end != hlen and text[end:].strip():
                raise ValueError("trailing data")
        except (ValueError, UnicodeDecodeError, StopIteration):
            raise self.corrupt("its header is not valid JSON") from None
        version = header.get("format") if isinstance(header, dict) else None
        if version != FORMAT_VERSION:
            raise self.corrupt(f"it was written in format version {version!r}; this jlcache "
                               f"reads version {FORMAT_VERSION}")
        try:
            self._check_regions(header)
        except (KeyError, TypeError, ValueError) as exc:
            raise self.corrupt(f"its header is inconsistent ({type(exc).__name__}: {exc})") from None
        return header

    def _check_regions(self, h: dict) -> None:
        if not isinstance(h["meta"], dict) or not isinstance(h["arrays"], list):
            raise TypeError("meta must be an object and arrays a list")
        comp = h["compression"]
        if comp is None and not h["arrays"]:  # the common tiny value: one region to check
            pick = h["pickle"]
            if _nonneg(pick["offset"]) + _nonneg(pick["length"]) > self.size:
                raise ValueError(f"the pickle ends past the end of the file ({self.size} bytes; "
                                 "truncated)")
            return
        end = self.size
        if comp is not None:
            normalize_compress((comp["method"], comp["level"]))
            if _nonneg(comp["offset"]) + _nonneg(comp["length"]) > self.size:
                raise ValueError(f"compressed payload ends past the end of the file ({self.size} "
                                 "bytes; truncated)")
            end = _nonneg(comp["size"])
        regions = [(h["pickle"]["offset"], h["pickle"]["length"])]
        regions += [(s["offset"], s["nbytes"]) for s in h["arrays"]]
        for offset, length in regions:
            if _nonneg(offset) + _nonneg(length) > end:
                raise ValueError(f"a region ends at byte {offset + length}, past the end of the "
                                 f"data ({end} bytes; truncated)")

    def value(self, mmap_mode: str | None) -> tuple[Any, dict]:
        specs = self.header["arrays"]
        if mmap_mode and specs and self.header["compression"] is not None:
            _warn_compressed_mmap(self.path)
        payload, data = self._checked_pickle()
        source = self._array_source(specs, payload, mmap_mode) if specs else None
        return self._loads(data, source), self.header["meta"]

    def value_and_pickle(self) -> tuple[Any, dict, Any]:
        """``value(None)`` plus what a caller that keeps small values in memory may keep:
        the validated pickle's bytes when they are the whole value; ``(file bytes, header)``
        for a value with arrays whose whole file was read (``kept_value`` loads it again);
        ``None`` when the file was not read whole."""
        if self.header["arrays"]:
            value, meta = self.value(None)
            if self.size > len(self.head):
                return value, meta, None
            return value, meta, (bytes(self.head), {**self.header, "meta": fresh(meta)})
        _, data = self._checked_pickle()
        raw = bytes(data)
        return self._loads(raw, None), self.header["meta"], raw

    def check(self) -> dict:
        """Verify every checksum (pickle and arrays) without unpickling; returns the meta.

        Why not ``value``: a checker (``jlcache verify``) must not run the pickle's code nor
        need the modules its classes live in, which a command line usually cannot import.
        """
        specs = self.header["arrays"]
        payload, _ = self._checked_pickle()
        if specs:
            source = self._array_source(specs, payload, None)
            array_error: type[Exception] = _array_error()
            for index in range(len(specs)):
                try:
                    source.get(index)
                except array_error as exc:
                    raise self.corrupt(str(exc)) from None
        return self.header["meta"]

    def _checked_pickle(self) -> tuple[Any, memoryview]:
        """``(decompressed payload or None, pickle bytes)`` once the pickle's checksum holds."""
        comp, pick = self.header["compression"], self.header["pickle"]
        if comp is None:
            payload = None
            data = self.region(pick["offset"], pick["length"])
        else:
            try:
                payload = decompress_into(comp["method"], self.region(comp["offset"],
                                          comp["length"]), comp["size"])
            except ValueError as exc:
                raise self.corrupt(str(exc)) from None
            data = memoryview(payload)[pick["offset"]:pick["offset"] + pick["length"]]
        if xxhash.xxh3_64_hexdigest(data) != pick["xxh3_64"]:
            raise self.corrupt("its pickle fails its checksum (damaged bytes)")
        return payload, data

    def _array_source(self, specs: list, payload: Any, mmap_mode: str | None) -> Any:
        global _arrays
        if _arrays is None:  # numpy is imported with the first value that holds arrays
            from jlcache.serialize import arrays as _arrays
        ArraySource, check_spec = _arrays.ArraySource, _arrays.check_spec
        try:
            if not self.specs_checked:
                for spec in specs:
                    check_spec(spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise self.corrupt(f"its array table is inconsistent ({exc})") from None
        self.specs_checked = True
        if payload is not None:
            return ArraySource(specs, buffer=payload)
        if mmap_mode and any(s["nbytes"] for s in specs):
            if mmap_mode in ("r+", "w+"):
                self._drop_array_checksums()
            mm = ArraySource.open_mmap(self.fd, mmap_mode)
            return ArraySource(specs, mm=mm, mmap_mode=mmap_mode, filename=self.path)
        if self.size <= len(self.head):  # writable arrays need a mutable buffer
            return ArraySource(specs, buffer=bytearray(self.head))
        return ArraySource(specs, fd=self.fd)

    def _drop_array_checksums(self) -> None:
        """Arrays mapped writable may change: their checksums stop meaning anything."""
        if all(spec.get("xxh3_64") is None for spec in self.header["arrays"]):
            return
        header = {**self.header, "arrays": [{**s, "xxh3_64": None} for s in self.header["arrays"]]}
        text = json.dumps(header, separators=(",", ":"), default=str).encode()
        if len(text) <= self.hlen:  # null is shorter than the digest it replaces
            os.pwrite(self.fd, text.ljust(self.hlen), 8)

    def _loads(self, data: memoryview | bytes, source: Any) -> Any:
        if source is not None:
            stack = local.__dict__.setdefault("sources", [])
            stack.append(source)
        try:
            return pickle.loads(data)
        except (MemoryError, KeyboardInterrupt, CorruptEntryError):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in PROCESS_ERRNOS:
                raise  # out of descriptors or memory while loading arrays: not the entry's fault
            if source is not None and isinstance(exc, _array_error()):
                raise self.corrupt(str(exc)) from None
            raise self.corrupt(
                f"its value cannot be unpickled here ({type(exc).__name__}: {exc}); a module "
                "or class it refers to may be missing or have changed"
            ) from exc
        finally:
            if source is not None:
                local.sources.pop()


class BytesReader(Reader):
    """A value held in memory (an object fetched from object storage in one GET).

    ``size`` is the whole entry's length when ``data`` is only its start (a listing reads the
    header of each object with a ranged GET); checks then run against that length. Arrays
    load into memory (there is no file to map); ``mmap_mode`` is the caller's to refuse.
    """

    def __init__(self, path: str, data: bytes | bytearray | memoryview,
                 size: int | None = None) -> None:
        self.path, self.fd = path, -1
        self.head = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self.size = len(data) if size is None else size
        self.header = self._parse_header()

    def _pread(self, offset: int, length: int) -> bytes | bytearray:
        if offset + length > len(self.head):
            raise self.corrupt(f"it ends at byte {len(self.head)}, before the {offset + length} "
                               "bytes its layout needs (truncated)")
        return bytes(memoryview(self.head)[offset:offset + length])
