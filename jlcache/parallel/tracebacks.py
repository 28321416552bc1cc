"""Tracebacks of failing tasks that point at the user's code, not at jlcache's.

Three things make a worker's error readable in a notebook:

* **Code keeps its file name.** cloudpickle renames the code of functions it pickles by
  value (notebook functions) to ``"<dynamic-code>"``; ``dispatch_table`` here keeps the
  real ``co_filename`` (``/tmp/ipykernel_…/….py``, ``<ipython-input-5-…>``), so the frames a
  worker reports name the cell the function came from.
* **jlcache's frames are left out** (``user_frames``, ``without_jlcache_frames``): the
  worker's ``run_pickled`` / ``_execute`` explain nothing about the user's error.
* **The user's remote frames become real frames in the parent** (``remote_traceback``):
  the exception is re-raised with a traceback whose frames are compiled at the file and
  line each remote frame named, so IPython shows them as it shows local ones
  (``Cell In[5], line 3, in f`` with the cell's source, which only the parent has).
"""

from __future__ import annotations

import linecache
import types
from typing import Any

__all__ = ["code_dispatch_table", "remote_traceback", "user_frames", "without_jlcache_frames"]

Frame = tuple[str, int, str, str]  # (filename, line, function name, module)


def _is_jlcache(module: str) -> bool:
    return module == "jlcache" or module.startswith("jlcache.")


def without_jlcache_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` minus the frames of jlcache's own modules."""
    kept = []
    while tb is not None:
        if not _is_jlcache(tb.tb_frame.f_globals.get("__name__") or ""):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for entry in reversed(kept):
        out = types.TracebackType(out, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return out


def user_frames(tb: types.TracebackType | None) -> list[Frame]:
    """The frames of ``tb`` outside jlcache, as plain data that pickles back to the parent."""
    out: list[Frame] = []
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__") or ""
        if not _is_jlcache(module):
            code = tb.tb_frame.f_code
            out.append((code.co_filename, tb.tb_lineno, code.co_name, str(module)))
        tb = tb.tb_next
    return out


# ----------------------------------------------------------------------------- parent side
class _Raise(Exception):
    pass


def _frame_at(filename: str, lineno: int, name: str, module: str) -> types.TracebackType | None:
    """A traceback entry whose frame runs at ``filename:lineno`` in a function ``name``."""
    try:
        code = compile("\n" * (lineno - 1) + "raise __jlcache_raise__", filename, "exec")
        names: dict[str, Any] = {"co_name": name}
        if hasattr(code, "co_qualname"):  # Python 3.11+
            names["co_qualname"] = name
        code = code.replace(**names)
        exec(code, {"__name__": module, "__jlcache_raise__": _Raise()})
    except _Raise as raised:
        return raised.__traceback__.tb_next if raised.__traceback__ else None
    except Exception:  # a line number out of range, a strange file name: no frame
        return None
    return None


def remote_traceback(frames: list[Frame] | None) -> types.TracebackType | None:
    """Frames standing for the worker's frames whose source the parent can show.

    Only frames whose file the parent knows (``linecache``: notebook cells, files on disk)
    are rebuilt; the full text is still the error's ``RemoteTraceback`` cause.
    """
    entries = []
    for filename, lineno, name, module in frames or ():
        if lineno and linecache.getline(filename, lineno):
            entry = _frame_at(filename, lineno, name, module)
            if entry is not None:
                entries.append(entry)
    out = None
    for entry in reversed(entries):
        out = types.TracebackType(out, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return out


# ----------------------------------------------------------------------------- pickling
def _code_with_filename(args: tuple, filename: str) -> types.CodeType:
    return types.CodeType(*args).replace(co_filename=filename)


def _reduce_code(obj: types.CodeType) -> tuple:
    from cloudpickle import cloudpickle as cp

    return _code_with_filename, (cp._code_reduce(obj)[1], obj.co_filename)


def code_dispatch_table(base: Any) -> Any:
    """``base`` (a pickler's dispatch table) with code objects keeping their file name."""
    from collections import ChainMap

    return ChainMap({types.CodeType: _reduce_code}, base)
