"""Old home of ``CellState``, kept so cell entries written before the move still load."""
from jlcache.cells.state import *  # noqa: F403
from jlcache.cells.state import CellState  # noqa: F401
