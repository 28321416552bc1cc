"""Old home of ``CellState``: cell entries written before the cells package existed pickle
``jlcache.ipython.state.<name>``, so every name here resolves in ``jlcache.cells.state``."""
from typing import Any

from jlcache.cells import state as _new
from jlcache.cells.state import CellState  # noqa: F401 - the pickled class


def __getattr__(name: str) -> Any:
    return getattr(_new, name)
