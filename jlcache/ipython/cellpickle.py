"""Old home of the cell pickling helpers: cell entries written before the cells package
existed pickle ``jlcache.ipython.cellpickle.<name>`` (private helpers included), so every
name here resolves in ``jlcache.cells.pickling``."""
from typing import Any

from jlcache.cells import pickling as _new


def __getattr__(name: str) -> Any:
    return getattr(_new, name)
