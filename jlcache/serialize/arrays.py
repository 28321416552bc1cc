"""numpy arrays as raw regions of a value file: how they are written and how they come back.

Only imported once a value actually contains an array (so numpy is already loaded).
Writing streams each array's memory as it lies (C or Fortran order) without a copy;
arrays that are neither are written in C order through bounded chunks. Reading builds
arrays three ways: views of one ``mmap`` of the file (``mmap_mode``: constant time,
``numpy.memmap`` instances), views of a buffer already in memory (small files and
decompressed payloads: no copy), or ``preadv`` straight into a fresh array (large files).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import xxhash
from numpy.lib import format as npformat

__all__ = ["ArrayError", "ArraySource", "array_chunks", "array_spec", "check_spec"]

ALIGN = 64
_CHUNK = 16 << 20  # bounded temporaries for non-contiguous arrays
_MAX_READ = 1 << 30
_ACCESS = {"r": mmap.ACCESS_READ, "r+": mmap.ACCESS_WRITE, "w+": mmap.ACCESS_WRITE,
           "c": mmap.ACCESS_COPY}


class ArrayError(ValueError):
    """An array region cannot be read back as recorded (checksum, truncation)."""


def array_spec(arr: np.ndarray) -> dict:
    """The header entry of one array (``offset`` and ``xxh3_64`` are filled in by the writer)."""
    order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"
    return {"offset": 0, "nbytes": int(arr.nbytes), "dtype": npformat.dtype_to_descr(arr.dtype),
            "shape": list(arr.shape), "order": order, "xxh3_64": "0" * 16}


def _flat_bytes(arr: np.ndarray) -> np.ndarray:
    """A 1-D uint8 view of a contiguous array's memory (works for datetime and structured dtypes)."""
    if not arr.flags.c_contiguous:
        arr = arr.T  # Fortran-contiguous: the transpose is C-contiguous over the same memory
    return arr.reshape(-1).view(np.uint8)


def _c_chunks(arr: np.ndarray) -> Iterator[np.ndarray]:
    """C-order pieces of a non-contiguous array, each at most about ``_CHUNK`` bytes."""
    if arr.flags.c_contiguous or arr.ndim == 0 or arr.nbytes <= _CHUNK:
        yield np.ascontiguousarray(arr)
        return
    row = arr[:1].nbytes
    if row <= _CHUNK:
        step = max(1, _CHUNK // max(row, 1))
        for start in range(0, arr.shape[0], step):
            yield np.ascontiguousarray(arr[start:start + step])
    else:
        for i in range(arr.shape[0]):
            yield from _c_chunks(arr[i])


def array_chunks(arr: np.ndarray, order: str) -> Iterator[np.ndarray]:
    """The bytes of ``arr`` in storage ``order``, as uint8 arrays (views when possible)."""
    if arr.nbytes == 0:
        return
    if arr.flags.c_contiguous or (order == "F" and arr.flags.f_contiguous):
        yield _flat_bytes(arr)
        return
    for piece in _c_chunks(arr):
        yield _flat_bytes(piece)


_DTYPES: dict[str, np.dtype] = {}  # descr -> dtype: parsed twice per array on every load


def _dtype(spec: dict) -> np.dtype:
    descr = spec["dtype"]
    if type(descr) is not str:  # a structured dtype (a list): not worth caching
        return npformat.descr_to_dtype(descr)
    dtype = _DTYPES.get(descr)
    if dtype is None:
        dtype = npformat.descr_to_dtype(descr)  # type: ignore[arg-type]  # a str descr is valid
        if len(_DTYPES) < 1024:
            _DTYPES[descr] = dtype
    return dtype


def check_spec(spec: dict) -> None:
    """Raise ``ValueError`` when an array entry is inconsistent (its bytes would not fit)."""
    dtype = _dtype(spec)
    if dtype.hasobject:
        raise ValueError("object dtype in the array table")
    shape = tuple(int(n) for n in spec["shape"])
    if spec["order"] not in ("C", "F") or any(n < 0 for n in shape):
        raise ValueError(f"bad order or shape {spec['order']!r} {shape}")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != spec["nbytes"]:
        raise ValueError(f"array of shape {shape} and dtype {dtype} cannot hold {spec['nbytes']} bytes")


class ArraySource:
    """Where the arrays of one value are read from; ``get(i)`` is called by the unpickler."""

    def __init__(self, specs: list[dict], *, buffer: Any = None, base: int = 0,
                 fd: int | None = None, mm: mmap.mmap | None = None,
                 mmap_mode: str | None = None, filename: str = "") -> None:
        self.specs = specs
        self.buffer = buffer  # bytearray/memoryview holding the regions at spec offset - base
        self.base = base
        self.fd = fd
        self.mm = mm
        self.mode = "r+" if mmap_mode == "w+" else mmap_mode
        self.filename = filename

    @staticmethod
    def open_mmap(fd: int, mmap_mode: str) -> mmap.mmap:
        return mmap.mmap(fd, 0, access=_ACCESS[mmap_mode])

    def get(self, index: int) -> np.ndarray:
        spec = self.specs[index]
        dtype = _dtype(spec)
        shape = tuple(spec["shape"])
        if spec["nbytes"] == 0:  # mmap cannot map zero bytes; nothing to read either
            return np.empty(shape, dtype, order=spec["order"])
        if self.mm is not None:
            return self._memmap(spec, dtype, shape)
        flat = self._read(spec)
        expected = spec["xxh3_64"]  # None once the array was mapped writable ('r+')
        if expected is not None and xxhash.xxh3_64_hexdigest(flat) != expected:  # type: ignore[arg-type]
            raise ArrayError(f"array #{index} ({spec['nbytes']} bytes) fails its checksum")
        return flat.view(dtype).reshape(shape, order=spec["order"])

    def _memmap(self, spec: dict, dtype: np.dtype, shape: tuple) -> np.memmap:
        # What np.memmap does internally, but over the mmap of the very file descriptor whose
        # header we validated: reopening by name could map a newer file replaced meanwhile.
        arr = np.ndarray.__new__(np.memmap, shape, dtype=dtype, buffer=self.mm,
                                 offset=spec["offset"], order=spec["order"])
        arr._mmap = self.mm
        arr.filename = self.filename
        arr.offset = spec["offset"]
        arr.mode = self.mode
        return arr

    def _read(self, spec: dict) -> np.ndarray:
        start = spec["offset"] - self.base
        if self.buffer is not None:
            return np.frombuffer(self.buffer, np.uint8, spec["nbytes"], start)
        flat = np.empty(spec["nbytes"], np.uint8)
        view = memoryview(flat)  # type: ignore[arg-type]  # numpy's stubs miss the buffer protocol
        offset, fd = spec["offset"], self.fd
        if fd is None:
            raise ArrayError("the array's file is closed")
        while view:
            n = os.preadv(fd, [view[:_MAX_READ]], offset)
            if n == 0:
                raise ArrayError(f"file ends inside an array at byte {offset}")
            view = view[n:]
            offset += n
        return flat
