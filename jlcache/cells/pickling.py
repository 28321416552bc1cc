"""Pickling a cell's variables so that restored functions *are* the functions the cell made.

cloudpickle stores a notebook function by value, which is what a restore needs, but with
two changes that matter here:

* it renames the code's ``co_filename`` to ``"<dynamic-code>"`` (deterministic payloads), so
  the restored function no longer points at the cell's source: ``inspect.getsource`` fails
  and ``jlcache.identity.functions`` falls back to a structural hash -- a *different* version, and
  every cell or cached function using it misses once after each restart;
* it gives the function a private snapshot of the globals it read, instead of the
  notebook's namespace: redefining a helper later would not reach the restored function.

This pickler keeps ``co_filename`` (nested code objects too) and rebuilds functions defined
in the notebook with the live user namespace as their globals, exactly as running the
``def`` again would. Plain numpy arrays are not pickled here: they are handed back in a list
that the ``Store`` writes as raw aligned files, so they still restore memory-mapped.

Reconstruction needs the arrays and the namespace, given by ``loads(data, arrays, ns)``.
"""

from __future__ import annotations

import io
import linecache
import pickle
import sys
import threading
import types
from typing import Any

from jlcache.serialize.class_state import reduce_descriptor

__all__ = ["dumps", "loads", "registered_sources"]

_load = threading.local()   # .arrays and .ns while ``loads`` runs
_pickler_class: Any = None


def dumps(value: Any, ns: dict) -> tuple[bytes, list, set[str]]:
    """``(payload, arrays, code filenames seen)``; raises what pickling ``value`` raises."""
    global _pickler_class
    if _pickler_class is None:
        _pickler_class = _make_pickler_class()
    buf = io.BytesIO()
    pickler = _pickler_class(buf, ns)
    pickler.dump(value)
    return buf.getvalue(), pickler.arrays, pickler.filenames


def loads(data: bytes, arrays: list, ns: dict) -> Any:
    """The value ``dumps`` pickled, its functions bound to ``ns``."""
    saved = getattr(_load, "arrays", None), getattr(_load, "ns", None)
    _load.arrays, _load.ns = arrays, ns
    try:
        return pickle.loads(data)
    finally:
        _load.arrays, _load.ns = saved


def registered_sources(filenames: set[str]) -> dict[str, str]:
    """Sources that exist only in ``linecache`` (notebook cells), by code filename."""
    found = {}
    for filename in filenames:
        entry = linecache.cache.get(filename)
        if entry is not None and len(entry) == 4 and entry[1] is None:  # no file behind it
            found[filename] = "".join(entry[2])
    return found


# --------------------------------------------------------------------------- reconstruction


def _array_at(index: int) -> Any:
    return _load.arrays[index]


def _live_namespace() -> dict:
    return _load.ns


def _code_with_filename(args: tuple, filename: str) -> types.CodeType:
    return types.CodeType(*args).replace(co_filename=filename)


def _set_function_state(func: types.FunctionType, state: tuple) -> None:
    """cloudpickle's ``_function_setstate`` minus the globals snapshot (``func`` reads the
    live namespace) and minus the ``__builtins__`` overwrite in that namespace."""
    attrs, slots = state
    func.__dict__.update(attrs)
    slots = dict(slots)
    slots.pop("__globals__", None)
    slots.pop("_cloudpickle_submodules", None)   # unpickling them imported them already
    closure = slots.pop("__closure__", None)
    if closure is not None and func.__closure__ is not None:
        for i, cell in enumerate(closure):
            try:
                func.__closure__[i].cell_contents = cell.cell_contents
            except ValueError:   # an empty cell
                continue
    for name, value in slots.items():
        setattr(func, name, value)


class _LiveNamespace:
    """Stands for the user namespace inside a payload."""

    def __reduce__(self) -> tuple:
        return _live_namespace, ()


_LIVE = _LiveNamespace()


def _make_pickler_class() -> Any:
    import cloudpickle
    from cloudpickle import cloudpickle as cp

    class CellPickler(cloudpickle.CloudPickler):
        def __init__(self, file: Any, ns: dict) -> None:
            super().__init__(file, protocol=5)
            self.ns = ns
            self.arrays: list = []
            self.filenames: set[str] = set()
            np = sys.modules.get("numpy")
            self._array_types = (np.ndarray, np.memmap) if np is not None else ()

        def reducer_override(self, obj: Any) -> Any:
            t = type(obj)
            if t in self._array_types and not obj.dtype.hasobject:
                self.arrays.append(obj)
                return _array_at, (len(self.arrays) - 1,)
            if isinstance(obj, io.IOBase) and t not in (io.BytesIO, io.StringIO):
                raise pickle.PicklingError(
                    f"an open {t.__name__} is a connection to a file or stream, not data; a "
                    "restored copy would not be the same file")
            if t is types.CodeType:
                self.filenames.add(obj.co_filename)
                return _code_with_filename, (cp._code_reduce(obj)[1], obj.co_filename)
            rv = reduce_descriptor(obj)
            return rv if rv is not None else super().reducer_override(obj)

        def _function_getnewargs(self, func: types.FunctionType) -> tuple:
            args = super()._function_getnewargs(func)
            if func.__globals__ is self.ns:
                return (args[0], _LIVE, *args[2:])
            return args

        def _dynamic_function_reduce(self, func: types.FunctionType) -> tuple:
            if func.__globals__ is not self.ns:
                return super()._dynamic_function_reduce(func)
            attrs, slots = cp._function_getstate(func)
            slots["__globals__"] = {}     # read from the live namespace instead
            return (cp._make_function, self._function_getnewargs(func), (attrs, slots),
                    None, None, _set_function_state)

    return CellPickler
