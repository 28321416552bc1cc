"""Old home of the cell pickling helpers, kept so cell entries written before the move load."""
from jlcache.cells.pickling import *  # noqa: F403
