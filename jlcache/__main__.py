"""``python -m jlcache``: the same command line as the ``jlcache`` script."""

import sys

from jlcache.cli import main

if __name__ == "__main__":
    sys.exit(main())
