"""Object arrays of Python strings as fixed-width numpy arrays: the columnar encoding of
pandas string columns (issue 14).

Why: a 2M-row string column pickled element by element (one opcode and one memo entry per
string) was most of the time of storing a DataFrame. The same strings as one ``S``
(ASCII) or ``U`` array are converted in C, written as a raw region of the value file with
its checksum like any array, and turned back into ``str`` objects in C on load.

Only when the result is exactly equal: every element an exact ``str`` (no subclass, no
``None``/``NaN``, which keep the pickle path), no NUL character (numpy's fixed-width
strings drop trailing NULs), a C- or Fortran-contiguous array (its layout comes back), and
a width no more than about twice the mean length (one long outlier would make the fixed
width array many times the size of the strings).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIN_SIZE", "encode", "restore"]

MIN_SIZE = 1024  # below this, pickling the few strings is as fast and keeps one region less


def encode(arr: np.ndarray) -> np.ndarray | None:
    """``arr`` (an object array) as an ``S``/``U`` array holding the same strings in the same
    layout, or ``None`` when that would not give back exactly ``arr`` (see module doc)."""
    if arr.size < MIN_SIZE or not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        return None
    flat = arr.ravel(order="K")  # a view of a contiguous array, in memory order
    if set(map(type, flat)) != {str}:
        return None
    joined = "".join(flat)
    if "\x00" in joined:
        return None
    width = max(map(len, flat))
    if width > 2 * len(joined) / flat.size + 16:
        return None
    kind = "S" if joined.isascii() else "<U"
    return arr.astype(f"{kind}{max(width, 1)}", order="K")


def restore(arr: Any) -> np.ndarray:
    """The object array of ``str`` that ``encode`` turned into ``arr`` (a plain ndarray even
    when ``arr`` is a memory map: object arrays are always loaded into memory)."""
    if arr.dtype.kind == "S":
        arr = arr.astype(f"<U{max(arr.dtype.itemsize, 1)}", order="K")
    return np.array(arr, dtype=object, order="K")
