"""numpy and pandas encodings for ``jlcache.hashing.hasher`` (tags ``A``, ``a``, ``J``/``K``/``L``).

Only imported once numpy is in ``sys.modules`` (``hashing`` registers these handlers
lazily), and it never imports numpy or pandas itself: it finds them in ``sys.modules``.
An array is written as its dtype, memory order and shape, then its buffer goes straight to
the digest (no pickle, no copy when contiguous; non-contiguous views are copied at most
``_CHUNK`` bytes at a time). pandas objects are hashed by their content through the
arrays that back them, so equal frames hash equal whatever their index type.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from jlcache.hashing.hasher import _TQ, Hasher, _encode, _enter, _function, _list, _str
from jlcache.hashing.objects import _object

_CHUNK = 1 << 22  # bytes copied at a time when hashing a non-contiguous array


def numpy_types(np: Any) -> dict[type, Any]:
    """Exact-type handlers that ``hashing`` adds to its dispatch table once numpy is loaded."""
    return {np.ndarray: _ndarray, np.memmap: _memmap, np.ufunc: _function}


def lookup_handler(cls: type) -> Any | None:
    """The handler for a numpy scalar or pandas class (subclasses included), else None."""
    np = sys.modules.get("numpy")
    if np is not None and issubclass(cls, np.generic):
        return _np_scalar
    pd = sys.modules.get("pandas")
    if pd is not None and str(getattr(cls, "__module__", "")).partition(".")[0] == "pandas":
        for base, handler in ((pd.DataFrame, _pd_frame), (pd.Series, _pd_series),
                              (pd.Index, _pd_index)):
            if issubclass(cls, base):
                return handler
    return None


# --- numpy -----------------------------------------------------------------------------------


def _dtype_key(dt: Any) -> bytes:
    return (dt.str if dt.names is None else f"{dt.str}{dt.descr}").encode()


def _ndarray(h: Hasher, a: Any) -> None:
    dt = a.dtype
    if dt.hasobject or dt.kind == "T":  # pointers in the buffer: hash the elements
        _object_array(h, a)
        return
    flags = a.flags
    fortran = flags.f_contiguous and not flags.c_contiguous
    key = _dtype_key(dt)
    h._append(b"A" + (b"F" if fortran else b"C") + _TQ(b"d", len(key)) + key
              + struct.pack(f"<B{a.ndim}Q", a.ndim, *a.shape))
    if flags.c_contiguous or fortran:
        _feed_contiguous(h, a.T if fortran else a)
    else:
        _feed_strided(h, a)


def _feed_contiguous(h: Hasher, a: Any) -> None:
    try:
        h._feed(a)
    except (ValueError, TypeError, BufferError):  # dtypes without a buffer format (datetime64)
        h._feed(a.reshape(-1).view("u1"))


def _feed_strided(h: Hasher, a: Any) -> None:
    """C-order bytes of a non-contiguous view, copying at most ~4 MB at a time."""
    np = sys.modules["numpy"]
    if a.ndim == 0 or a.nbytes <= _CHUNK:
        _feed_contiguous(h, np.ascontiguousarray(a))
        return
    row = a.nbytes // a.shape[0]
    if row > _CHUNK:
        for sub in a:
            _feed_strided(h, sub)
        return
    step = _CHUNK // row
    for start in range(0, a.shape[0], step):
        _feed_contiguous(h, np.ascontiguousarray(a[start:start + step]))


def _object_array(h: Hasher, a: Any) -> None:
    if not _enter(h, a):
        return
    key = _dtype_key(a.dtype)
    h._append(b"AO" + _TQ(b"d", len(key)) + key + struct.pack(f"<B{a.ndim}Q", a.ndim, *a.shape))
    _list(h, a.ravel().tolist())
    del h._active[id(a)]


def _memmap(h: Hasher, a: Any) -> None:
    if not h._coerce_mmap:
        h._append(b"m")  # joblib's coerce_mmap=False: a memmap is not an ndarray
    _ndarray(h, a)


def _np_scalar(h: Hasher, obj: Any) -> None:
    dt = obj.dtype
    if dt.hasobject:
        _object(h, obj)
        return
    key, data = _dtype_key(dt), obj.tobytes()
    h._append(_TQ(b"a", len(key)) + key + _TQ(b"a", len(data)) + data)


# --- pandas (only reached when pandas is already imported) -----------------------------------


def _pd_values(h: Hasher, values: Any) -> None:
    """The values of a Series or Index, whatever their dtype, with no per-element Python work
    for numpy-backed data."""
    np = sys.modules["numpy"]
    _str(h, str(values.dtype))
    arr = values.array
    if isinstance(values.dtype, np.dtype):
        _ndarray(h, values.to_numpy())
    elif hasattr(arr, "categories"):
        h._append(b"k")
        _ndarray(h, arr.codes)
        _pd_index(h, arr.categories)
        _encode(h, bool(arr.ordered))
    elif hasattr(arr, "asi8"):  # datetime with tz, period, ...: int64 plus the dtype above
        _ndarray(h, arr.asi8)
    else:
        _object_array(h, np.asarray(arr, dtype=object))


def _pd_index(h: Hasher, idx: Any) -> None:
    h._append(_TQ(b"J", idx.nlevels))
    _encode(h, list(idx.names))
    if idx.nlevels == 1:
        _pd_values(h, idx)
    else:
        for level in range(idx.nlevels):
            _pd_values(h, idx.get_level_values(level))


def _pd_series(h: Hasher, s: Any) -> None:
    h._append(b"K")
    _encode(h, s.name)
    _pd_index(h, s.index)
    _pd_values(h, s)


def _pd_frame(h: Hasher, df: Any) -> None:
    h._append(b"L")
    _pd_index(h, df.columns)
    _pd_index(h, df.index)
    for i in range(df.shape[1]):
        _pd_values(h, df.iloc[:, i])
