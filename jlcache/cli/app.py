"""The ``jlcache`` argument parser, and how errors become exit statuses.

Exit statuses: ``0`` done; ``1`` ``verify`` found damaged entries; ``2`` a usage problem
(bad arguments, a size like ``lots``, an unknown command, a DIR that is not a jlcache cache
or is unsafe, ``clear`` without a terminal and without ``--yes``). A usage problem prints
ONE line on stderr and no traceback: scripts and people both read it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from jlcache.cli import commands
from jlcache.cli.commands import UsageProblem

__all__ = ["build_parser", "run"]

PROG = "jlcache"

_DIR_HELP = ("the cache: a directory or a URL Memory accepts (default: $JLCACHE_DIR, else "
             "./.jlcache, as %%load_ext jlcache)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is an exception we print as one line (not usage + exit)."""

    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"{message} (see `{self.prog} --help`)")


class _CommandParser(_Parser):
    """A command's parser: options and positionals in any order (``ls --json DIR``), which
    argparse alone gets wrong for optional positionals (CPython issue 59317)."""

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (``jlcache --help`` shows them)."""
    parser = _Parser(prog=PROG, description="Look at, check, shrink and clear a jlcache cache.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    sub.required = True
    ls = sub.add_parser("ls", help="functions and cells, their versions (current/stale), "
                        "entries, bytes, last used")
    ls.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    ls.add_argument("--json", action="store_true", help="machine-readable output (format 1)")
    du = sub.add_parser("du", help="sizes on disk, largest first, with a total")
    du.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    verify = sub.add_parser("verify", help="check every entry's checksums; exit 1 if any is "
                            "damaged")
    verify.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    verify.add_argument("--fix", action="store_true", help="delete the damaged entries")
    prune = sub.add_parser("prune", help="evict least recently used entries down to a size "
                           "and/or older than an age")
    prune.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    prune.add_argument("--max-size", metavar="SIZE", help="keep at most this much: 5G, 500M, "
                       "1024 (bytes on disk, powers of 1024)")
    prune.add_argument("--older-than", metavar="AGE", help="evict entries not used for this "
                       "long: 30d, 12h, 2w")
    clear = sub.add_parser("clear", help="delete the whole cache, one function or cell "
                           "(TARGET), or the stale versions (--stale)")
    clear.add_argument("dir", nargs="?", metavar="DIR", help=_DIR_HELP)
    clear.add_argument("target", nargs="?", metavar="TARGET", help="a function or cell name "
                       "as `jlcache ls` shows it (module.name, or just name)")
    clear.add_argument("--stale", action="store_true", help="only versions older than the "
                       "newest of their function or cell")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status (never raises for a
    usage problem: it prints one line on stderr and returns 2)."""
    warnings.showwarning = _one_line_warning
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        return commands.dispatch(args)
    except UsageProblem as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jlcache ls | head`: the reader went away, not an error
        _silence_stdout()
        return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _one_line_warning(message: Any, category: type, filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Warnings (an untrusted entry, a damaged header) as one line, without source lines."""
    print(f"{PROG}: warning: {_one_line(str(message))}", file=sys.stderr)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
