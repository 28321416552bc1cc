"""Large numpy arguments reach process workers as memory maps of one shared file.

Pickling a batch goes through ``SharingPickler``: an array at or above ``max_nbytes``
(anywhere in the batch: arguments, keyword arguments, inside lists or dicts) is written
*once* to a folder on ``/dev/shm`` (RAM-backed, so nothing touches a disk) and pickled as a
small reference; the worker maps it read-only (``mmap_mode``). Arrays are recognised by
``id()`` + buffer address + shape/strides/dtype within a call, so 20 tasks receiving the same
200 MB array cost one write. Inside a ``with Parallel(...)`` block the folder lives for the
whole block and arrays are also matched by a content hash (xxh3, ~30 GB/s), so an unchanged
array is not written again by the next call while a modified one is.

The folder is removed when the call (or block) ends - success, error or Ctrl-C: handed to a
background thread so the caller does not wait for the kernel to free the pages, and removed
synchronously at interpreter exit if that thread has not finished.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
import threading
from types import FunctionType, ModuleType
from typing import Any

__all__ = ["ArraySharer", "dumps", "parse_nbytes", "wait_for_cleanup"]

_live_folders: set[str] = set()
_live_lock = threading.Lock()


def parse_nbytes(value: Any) -> int | None:
    """``"1M"`` -> 1048576 (K, M, G are powers of 1024, as in joblib); None disables."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip().upper().rstrip("B")
        units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
        try:
            if text and text[-1] in units:
                return int(float(text[:-1]) * units[text[-1]])
            return int(float(text))
        except ValueError:
            pass
    raise ValueError(f"max_nbytes={value!r} is not a size: use an int of bytes, a string "
                     "like '1M' or '500K', or None to disable array sharing.")


def _default_root() -> str:
    for candidate in (os.environ.get("JLCACHE_TEMP_FOLDER"), os.environ.get("JOBLIB_TEMP_FOLDER"),
                      "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return tempfile.gettempdir()


_trash: list[str] = []
_trash_cv = threading.Condition()
_deleter: threading.Thread | None = None


def _delete_soon(folder: str) -> None:
    """Remove ``folder`` in a background thread: freeing 200 MB of /dev/shm pages takes
    ~50-100 ms, which the caller need not wait for. Interpreter exit removes what is left."""
    global _deleter
    with _trash_cv:
        _trash.append(folder)
        if _deleter is None or not _deleter.is_alive():
            _deleter = threading.Thread(target=_deleter_loop, name="jlcache-shm-cleanup",
                                        daemon=True)
            _deleter.start()
        _trash_cv.notify()


def _deleter_loop() -> None:
    while True:
        with _trash_cv:
            while not _trash:
                if not _trash_cv.wait(timeout=30):
                    return  # idle: the thread exits, the next close starts another
            folder = _trash[0]
        shutil.rmtree(folder, ignore_errors=True)
        with _trash_cv:
            _trash.remove(folder)
            _trash_cv.notify_all()
        with _live_lock:
            _live_folders.discard(folder)


def wait_for_cleanup(timeout: float = 5.0) -> bool:
    """Block until every folder handed to the background deleter is gone (tests use it)."""
    with _trash_cv:
        return _trash_cv.wait_for(lambda: not _trash, timeout=timeout)


def _cleanup_all() -> None:
    with _live_lock:
        folders = list(_live_folders)
        _live_folders.clear()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_cleanup_all)


def load_shared(path: str, dtype: Any, shape: tuple, order: str, mode: str) -> Any:
    """Worker side: map the shared file (the reduce function of a shared array)."""
    import numpy as np

    if not _memmap_reducer[0]:
        _install_memmap_reducer(np)
    if not shape or 0 in shape:
        return np.empty(shape, dtype=dtype, order=order)  # type: ignore[call-overload]
    return np.memmap(path, dtype=dtype, mode=mode, shape=shape, order=order)  # type: ignore[call-overload]


_memmap_reducer = [False]


def _install_memmap_reducer(np: Any) -> None:
    """In a worker, send memmaps back as regular arrays with their exact dtype.

    numpy pickles an ``np.memmap`` below protocol 5 through a path that turns ``>i4`` into
    ``<i4``; and a memmap of a shared file means nothing to the caller, who deletes the
    file. So a worker that maps shared arrays (only workers call ``load_shared``) sends any
    memmap result as an ordinary array pickled with protocol 5, as joblib does.
    """
    import copyreg

    copyreg.pickle(np.memmap, _reduce_memmap)
    _memmap_reducer[0] = True


def _reduce_memmap(m: Any) -> tuple:
    import pickle

    import numpy as np

    return (pickle.loads, (pickle.dumps(np.asarray(m), protocol=5),))


_mp_reducer = [False]


def install_result_reducer() -> None:
    """In a worker, make ``multiprocessing`` send non-native-byte-order arrays exactly.

    ``concurrent.futures``' process pool pickles results with protocol 4, where numpy turns
    a ``>i4`` array into ``<i4``. Registering with ``ForkingPickler`` changes only what
    travels through multiprocessing's pipes, not the worker's other pickling.
    """
    from multiprocessing.reduction import ForkingPickler

    import numpy as np

    ForkingPickler.register(np.ndarray, _reduce_ndarray)
    _mp_reducer[0] = True


def _reduce_ndarray(a: Any) -> tuple:
    if a.dtype.isnative:
        return a.__reduce_ex__(4)  # what protocol 4 does anyway
    import pickle

    return (pickle.loads, (pickle.dumps(a, protocol=5),))


class ArraySharer:
    """Owns one temporary folder and the arrays written to it."""

    def __init__(self, max_nbytes: int, mmap_mode: str = "r", temp_folder: str | None = None,
                 by_content: bool = False) -> None:
        self.max_nbytes = max_nbytes
        self.mmap_mode = "r+" if mmap_mode == "w+" else (mmap_mode or "r")
        self.temp_folder = temp_folder
        self.by_content = by_content
        self.folder: str | None = None
        self._by_id: dict[tuple, tuple] = {}
        self._by_hash: dict[str, str] = {}
        self._lock = threading.Lock()
        self.written = 0  # arrays written (tests and benchmarks look at it)

    def _ensure_folder(self) -> str:
        if self.folder is None:
            root = self.temp_folder or _default_root()
            self.folder = tempfile.mkdtemp(prefix=f"jlcache-{os.getpid()}-", dir=root)
            with _live_lock:
                _live_folders.add(self.folder)
        return self.folder

    def reduce(self, arr: Any) -> tuple | None:
        """The pickle reduction of ``arr``: a reference to its shared file (None: pickle it)."""
        if arr.dtype.hasobject or arr.nbytes < self.max_nbytes:
            return None
        key = (id(arr), arr.__array_interface__["data"][0], arr.shape, arr.strides, arr.dtype.str)
        with self._lock:
            hit = self._by_id.get(key)
            if hit is None:
                hit = self._by_id[key] = (self._write(arr), arr)  # keep arr alive: id stays valid
        path, order = hit[0]
        return (load_shared, (path, arr.dtype, arr.shape, order, self.mmap_mode))

    def _write(self, arr: Any) -> tuple[str, str]:
        import numpy as np

        order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"
        if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
            arr = np.ascontiguousarray(arr)
        data = arr.T if order == "F" else arr
        digest = None
        if self.by_content:
            import xxhash

            digest = f"{arr.dtype.str}-{arr.shape}-{order}-" + xxhash.xxh3_128_hexdigest(
                memoryview(data.reshape(-1)).cast("B"))
            if digest in self._by_hash:
                return self._by_hash[digest], order
        folder = self._ensure_folder()
        path = os.path.join(folder, f"a{len(self._by_id)}-{self.written}.bin")
        with open(path, "wb") as fh:
            data.tofile(fh)
        self.written += 1
        if digest is not None:
            self._by_hash[digest] = path
        return path, order

    def end_call(self) -> None:
        """Forget array identities (ids may be reused after the call); keep files if by content."""
        with self._lock:
            self._by_id.clear()
        if not self.by_content:
            self.close()

    def close(self, wait: bool = False) -> None:
        """Delete the folder: in the background by default (see ``_delete_soon``)."""
        with self._lock:
            self._by_id.clear()
            self._by_hash.clear()
            folder, self.folder = self.folder, None
        if folder is None:
            return
        if wait:
            shutil.rmtree(folder, ignore_errors=True)
            with _live_lock:
                _live_folders.discard(folder)
        else:
            _delete_soon(folder)


def dumps(obj: Any, sharer: ArraySharer | None) -> bytes:
    """cloudpickle ``obj``, sending large arrays through ``sharer`` when numpy is in use."""

    np = sys.modules.get("numpy")
    accepts_any = getattr(sharer, "accepts_any", False)
    if sharer is None or (np is None and not accepts_any):
        buf = io.BytesIO()
        _PlainPickler(buf).dump(obj)
        return buf.getvalue()
    buf = io.BytesIO()
    ndarray = None if accepts_any or np is None else np.ndarray
    _SharingPickler(buf, sharer, ndarray).dump(obj)
    return buf.getvalue()


def _make_plain_pickler_class() -> type:
    import cloudpickle

    from jlcache.parallel.tracebacks import code_dispatch_table

    class TaskPickler(cloudpickle.Pickler):
        """cloudpickle, but notebook functions keep their cell's file name: a worker's
        traceback then names the cell (``jlcache.parallel.tracebacks``)."""

        dispatch_table = code_dispatch_table(cloudpickle.Pickler.dispatch_table)

        def __init__(self, file: Any) -> None:
            super().__init__(file, protocol=5)

    return TaskPickler


def _make_pickler_class() -> type:
    import cloudpickle

    from jlcache.parallel.tracebacks import code_dispatch_table

    class SharingPickler(cloudpickle.Pickler):
        dispatch_table = code_dispatch_table(cloudpickle.Pickler.dispatch_table)

        def __init__(self, file: Any, sharer: ArraySharer, ndarray: type | None) -> None:
            super().__init__(file, protocol=5)
            self._sharer = sharer
            self._ndarray = ndarray  # None: offer every object (a remote backend's sharer)

        def reducer_override(self, obj: Any) -> Any:
            kind = self._ndarray
            if (isinstance(obj, kind) if kind is not None
                    else not isinstance(obj, (type, FunctionType, ModuleType))):
                reduced = self._sharer.reduce(obj)
                if reduced is not None:
                    return reduced
            return super().reducer_override(obj)

    return SharingPickler


class _LazyPickler:
    cls: type | None = None

    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any) -> Any:
        if self.cls is None:
            self.cls = self.make()
        return self.cls(*args)


_SharingPickler = _LazyPickler(_make_pickler_class)
_PlainPickler = _LazyPickler(_make_plain_pickler_class)
