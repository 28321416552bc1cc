"""``jlcache``, the command line: look at, check, shrink and clear a cache from a terminal.

A front end like the panel and ``%jlcache``: every figure and every deletion comes from the
engine (``jlcache.memory.housekeeping``, ``jlcache.memory.inventory``, the ``Store``), so the
three never disagree. ``import jlcache`` does not import this package.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``jlcache`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from jlcache.cli.app import run

    return run(argv)
