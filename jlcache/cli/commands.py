"""The five commands: each opens the cache, asks the engine, and prints.

Nothing here measures, judges or deletes on its own: sizes and states come from
``jlcache.memory.inventory``/``housekeeping``, checks from ``Store.verify``, eviction from
``Store.reduce_size``, deletion from ``housekeeping.clear_groups``/``clear_stale`` and
``Store.clear``. Without a notebook session, "stale" is ``housekeeping.NO_SESSION``'s rule:
in each function or cell, versions older than the one most recently stored to.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from jlcache.cli import render

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["UsageProblem", "dispatch", "open_cache"]


class UsageProblem(Exception):
    """A problem the user fixes by changing the command: exit status 2, one line on stderr."""


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; returns its exit status."""
    handler = {"ls": ls, "du": du, "verify": verify, "prune": prune, "clear": clear}[args.command]
    return handler(args)


def open_cache(location: str | None) -> Store:
    """The store at ``location`` (default: the session's rule), which must already be a cache.

    A command line must never create a cache where a typo points, nor adopt a directory that
    is something else: a local DIR must exist and hold jlcache's ``FORMAT`` file. Every
    refusal (unsafe, newer format, unknown URL scheme) is a ``UsageProblem``.
    """
    from jlcache.errors import JlcacheError
    from jlcache.memory.session import default_location
    from jlcache.store import is_url, open_store

    shown = location or os.fspath(default_location())
    path = shown[len("file://"):] if shown.startswith("file://") else shown
    if not is_url(path):
        path = os.path.expanduser(path)
        if not os.path.isdir(path):
            raise UsageProblem(f"{shown}: no such cache directory (nothing was created). Pass "
                               "the DIR of a jlcache cache, or set JLCACHE_DIR.")
        if not os.path.lexists(os.path.join(path, "FORMAT")):
            raise UsageProblem(f"{shown} is not a jlcache cache: it has no FORMAT file. Nothing "
                               "was changed; pass the directory a Memory or %load_ext jlcache "
                               "uses.")
    try:
        return open_store(shown)
    except (JlcacheError, ValueError, TypeError, OSError) as exc:
        raise UsageProblem(f"cannot open {shown}: {exc}") from None


# ----------------------------------------------------------------------------- reading
def ls(args: argparse.Namespace) -> int:
    """Functions and cells with their versions (current/stale), entries, bytes, last used."""
    from jlcache.memory import housekeeping
    from jlcache.memory.inventory import inventory

    store = open_cache(args.dir)
    groups = inventory(store, housekeeping.NO_SESSION)
    if args.json:
        render.write_json(store.url, groups, sys.stdout)
    else:
        sys.stdout.write(render.ls_table(store.url, groups))
    return 0


def du(args: argparse.Namespace) -> int:
    """Bytes on disk per function and cell, largest first, and the total."""
    from jlcache.memory import housekeeping
    from jlcache.memory.inventory import inventory

    store = open_cache(args.dir)
    sys.stdout.write(render.du_table(store.url, inventory(store, housekeeping.NO_SESSION)))
    return 0


def verify(args: argparse.Namespace) -> int:
    """Check every entry's checksums; exit 1 naming each damaged entry (``--fix`` deletes)."""
    from jlcache.memory import housekeeping

    store = open_cache(args.dir)
    damaged = housekeeping.verify(store, fix=args.fix)
    for d in damaged:
        print(render.damaged_line(d, args.fix))
    checked = sum(len(store.scan(kind)) for kind in ("functions", "cells")) + (
        len(damaged) if args.fix else 0)
    if not damaged:
        print(f"{checked} entries checked, none damaged.")
        return 0
    done = "deleted" if args.fix else "found (run with --fix to delete them)"
    print(f"{checked} entries checked: {len(damaged)} damaged, {done}.")
    return 1


# ----------------------------------------------------------------------------- deleting
def prune(args: argparse.Namespace) -> int:
    """Evict least recently used entries until the cache fits ``--max-size`` (and/or those
    unused for ``--older-than``): ``Store.reduce_size``, as ``bytes_limit`` does."""
    from jlcache.memory import housekeeping
    from jlcache.store import parse_age, parse_size

    if args.max_size is None and args.older_than is None:
        raise UsageProblem("prune needs --max-size SIZE and/or --older-than AGE (e.g. "
                           "`jlcache prune --max-size 5G`)")
    try:
        limit = parse_size(args.max_size) if args.max_size is not None else None
        age = parse_age(args.older_than) if args.older_than is not None else None
    except ValueError as exc:
        raise UsageProblem(str(exc).replace("age_limit", "--older-than")
                           .replace("Size limit", "--max-size")) from None
    store = open_cache(args.dir)
    sizes = {e.ref: housekeeping.entry_bytes(e) for k in ("functions", "cells")
             for e in store.scan(k)}
    evicted = store.reduce_size(bytes_limit=limit, age_limit=age)
    freed = sum(sizes.get(ref, 0) for ref in evicted)
    print(f"Evicted {len(evicted)} entries ({housekeeping.human_size(freed)}); the cache now "
          f"takes {housekeeping.human_size(store.size())}.")
    return 0


def clear(args: argparse.Namespace) -> int:
    """Delete the whole cache, one TARGET, or the stale versions, after confirmation."""
    from jlcache.memory import housekeeping

    if args.target is not None and args.stale:
        raise UsageProblem("clear takes a TARGET or --stale, not both")
    store = open_cache(_clear_dir(args))
    if args.stale:
        stale = housekeeping.stale_versions(store, housekeeping.NO_SESSION)
        if not stale:
            print(f"Nothing to clear: no stale version in {store.url}.")
            return 0
        what = f"{len(stale)} stale version(s)"
        entries = [e for kind, group, version in stale for e in store.scan(kind, group, version)]
    elif args.target is not None:
        targets = housekeeping.match_groups(store, args.target)
        if not targets:
            print(f"Nothing to clear: no function or cell named {args.target!r} in "
                  f"{store.url} (see `jlcache ls`).")
            return 0
        what = ", ".join(group for _, group in targets)
        entries = [e for kind, group in targets for e in store.scan(kind, group)]
    else:
        what = f"everything in {store.url}"
        entries = [e for kind in ("functions", "cells") for e in store.scan(kind)]
        if not entries:
            print(f"Nothing to clear: {store.url} holds no entries.")
            return 0
    size = housekeeping.human_size(housekeeping.total_bytes(entries))
    if not _confirm(f"Delete {what} ({len(entries)} entries, {size})?", args.yes):
        print("Nothing deleted.")
        return 0
    if args.stale:
        done = housekeeping.clear_stale(store, housekeeping.NO_SESSION)
    elif args.target is not None:
        done = housekeeping.clear_groups(store, targets)
    else:
        store.clear()
        done = housekeeping.Removed(entries=len(entries), bytes=housekeeping.total_bytes(entries))
    print(f"Deleted {done.entries} entries ({housekeeping.human_size(done.bytes)}).")
    return 0


def _clear_dir(args: argparse.Namespace) -> str | None:
    """``clear NAME`` is ambiguous (a DIR or a TARGET?): DIR comes first, as in every command;
    a single word that is no directory nor URL is a mistake worth a precise message."""
    from jlcache.store import is_url

    if args.dir is not None and args.target is None and not os.path.isdir(
            os.path.expanduser(args.dir)) and not is_url(args.dir):
        raise UsageProblem(f"{args.dir!r} is not a cache directory. DIR comes before TARGET: "
                           f"`jlcache clear DIR {args.dir}` (DIR of the default cache: "
                           "$JLCACHE_DIR, else ./.jlcache)")
    return args.dir


def _confirm(question: str, yes: bool) -> bool:
    """``--yes``, or a ``y`` typed at a terminal; without a terminal, a ``UsageProblem``."""
    if yes:
        return True
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageProblem(f"{question[:-1]}: refusing without confirmation, as there is no "
                           "terminal to ask; nothing was deleted. Pass --yes to delete.")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
