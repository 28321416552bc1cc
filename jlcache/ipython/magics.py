"""The magics: argument parsing and a clean ``UsageError`` for bad input, nothing more.

Every magic parses with ``magic_arguments`` and hands over to the module that does the
work (``memo``, ``pmap``, ``info``); anything the user typed wrong becomes a
``UsageError`` (shown as one line, no traceback) before the cache is touched.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from jlcache.errors import JlcacheError
from jlcache.ipython import info, pmap
from jlcache.ipython.memo import MemoOptions, run_memo

if TYPE_CHECKING:  # pragma: no cover
    from jlcache.store import Store

__all__ = ["JlcacheMagics"]

_SLOT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _parse(magic: Any, line: str) -> argparse.Namespace:
    """``parse_argstring`` with every failure turned into a ``UsageError``.

    IPython's splitter keeps quotes in the tokens; string options are unquoted here, so
    ``--name "my cell"`` and ``dir 'my cache'`` mean what they say.
    """
    try:
        args = parse_argstring(magic, line)
    except UsageError:
        raise
    except (ValueError, SystemExit) as exc:  # unbalanced quotes, argparse exits
        raise UsageError(f"could not parse the arguments {line!r}: {exc}") from None
    for key, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, key, _unquote(value))
    return args


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _ignore_list(text: str) -> frozenset[str]:
    names = [n.strip() for n in text.replace(" ", ",").split(",") if n.strip()]
    bad = [n for n in names if not _IDENTIFIER.fullmatch(n)]
    if bad:
        raise UsageError(f"--ignore expects variable names separated by commas; {bad[0]!r} is "
                         "not a name. Example: %%memo --ignore debug,verbose")
    return frozenset(names)


def _batch_size(text: str) -> int | str:
    """Checked here, so a typo is a ``UsageError`` naming the option, not ``Parallel``'s error."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= sys.maxsize:
        raise UsageError(f"--batch-size must be a positive integer (at most {sys.maxsize}) or "
                         f"'auto', not {text!r}. Example: %pmap --batch-size 100 f xs")
    return value


@magics_class
class JlcacheMagics(Magics):
    """``%%memo``, ``%pmap`` and ``%jlcache``."""

    shell: Any  # the InteractiveShell these magics are registered on (never None here)

    @magic_arguments()
    @argument("--ignore", default="", metavar="NAME[,NAME...]",
              help="variables left out of the key (and out of the stored outputs)")
    @argument("--name", default=None, help="a stable name for the cell's cache slot")
    @argument("--force", action="store_true", help="run and overwrite the cached entry")
    @argument("--off", action="store_true", help="run without caching")
    @argument("--verbose", "-v", action="store_true", help="say why the cell ran or was restored")
    @cell_magic
    def memo(self, line: str, cell: str) -> Any:
        """Cache a whole cell: restore its variables and replay its output when nothing it
        reads has changed."""
        args = _parse(self.memo, line)
        if args.name is not None and not _SLOT_NAME.fullmatch(args.name):
            raise UsageError(f"--name {args.name!r}: use letters, digits, '_', '-' and '.' (at "
                             "most 100, not starting with '.' or '-'), e.g. --name load-data")
        if args.force and args.off:
            raise UsageError("--force and --off contradict each other: give one of them.")
        opts = MemoOptions(ignore=_ignore_list(args.ignore), name=args.name, force=args.force,
                           off=args.off, verbose=args.verbose)
        return run_memo(self.shell, _memory(), cell, opts)

    @magic_arguments()
    @argument("-n", "--n-jobs", type=int, default=-1, help="number of workers (default: all CPUs)")
    @argument("-b", "--backend", default=None, help="loky, threading, multiprocessing, "
              "sequential, dask, ray")
    @argument("--memo", action="store_true", help="cache each item through the default Memory")
    @argument("--ordered", dest="ordered", action="store_true", default=True,
              help="results in input order (default)")
    @argument("--unordered", dest="ordered", action="store_false",
              help="results in completion order")
    @argument("--batch-size", default="auto", help="tasks per batch, or 'auto'")
    @argument("--no-progress", action="store_true", help="no progress bar")
    @argument("--bg", action="store_true", help="run in the background; returns a job handle")
    @argument("expressions", nargs=argparse.REMAINDER, help="FUNC ITERABLE (two expressions)")
    @line_magic
    def pmap(self, line: str) -> Any:
        """Map FUNC over ITERABLE in parallel: ``ys = %pmap -n 4 f xs``."""
        __tracebackhide__ = True  # IPython leaves this frame out of tracebacks
        args = _parse(self.pmap, line)
        batch_size = _batch_size(args.batch_size)
        text = _raw_remainder(line, args.expressions)
        split = pmap.split_expressions(text)
        if split is None:
            raise UsageError(f"%pmap expects FUNC ITERABLE, two Python expressions; could not "
                             f"split {text!r} into two that parse. Example: "
                             "%pmap -n 4 lambda x: x**2 range(10)")
        _check_parallel_options(args.n_jobs, args.backend)
        func = self._evaluate(split[0], "FUNC")
        iterable = self._evaluate(split[1], "ITERABLE")
        if not callable(func):
            raise UsageError(f"FUNC {split[0]!r} is {_a(type(func).__name__)}, not callable.")
        try:
            items = list(iterable)
        except TypeError:
            raise UsageError(f"ITERABLE {split[1]!r} is {_a(type(iterable).__name__)}, which "
                             "cannot be iterated.") from None
        memory = _memory() if args.memo else None
        # Everything the user typed is checked, and a backend that cannot start is a
        # UsageError (pmap.BackendSetupError); any other exception is FUNC's own (or a
        # worker's) and is shown as it is, without jlcache's frames in the traceback.
        try:
            return pmap.run_pmap(func, items, n_jobs=args.n_jobs, backend=args.backend,
                                 memory=memory, memo=args.memo, ordered=args.ordered,
                                 batch_size=batch_size, progress=not args.no_progress,
                                 background=args.bg)
        except pmap.BackendSetupError as exc:
            raise UsageError(str(exc)) from None
        except Exception as exc:
            from jlcache.parallel.tracebacks import without_jlcache_frames

            raise exc.with_traceback(without_jlcache_frames(exc.__traceback__))  # noqa: B904

    def _evaluate(self, expr: str, what: str) -> Any:
        try:
            return self.shell.ev(expr)
        except Exception as exc:
            raise UsageError(f"{what} {expr!r} could not be evaluated: "
                             f"{type(exc).__name__}: {exc}") from None

    @magic_arguments()
    @argument("command", nargs="?", default=None, help="panel | info | clear | dir | bridge")
    @argument("target", nargs="?", default=None,
              help="clear: a function or cell name; dir: PATH; bridge: on | off")
    @argument("--stale", action="store_true", help="clear: versions not defined in this session")
    @argument("--all", action="store_true", help="clear: everything")
    @argument("--yes", "-y", action="store_true", help="clear --all / --stale: do not ask")
    @argument("--mmap-mode", default=None, choices=["r", "r+", "w+", "c"],
              help="dir: memory-map arrays of restored cells and cached results")
    @line_magic
    def jlcache(self, line: str) -> Any:
        """``%jlcache [panel | info | clear [TARGET] [--stale] [--all] [--yes] | dir [PATH] |
        bridge [on|off]]``."""
        args = _parse(self.jlcache, line)
        command = args.command or "panel"
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"unknown %jlcache command {command!r}: use panel, info, clear, "
                             "dir or bridge (e.g. %jlcache clear --stale).")
        if command != "clear" and (args.stale or args.all or args.yes):
            raise UsageError("--stale, --all and --yes only go with `%jlcache clear`.")
        if command != "dir" and args.mmap_mode is not None:
            raise UsageError("--mmap-mode only goes with `%jlcache dir PATH`.")
        if command in ("panel", "info") and args.target is not None:
            raise UsageError(f"%jlcache {command} takes no argument (got {args.target!r}).")
        try:
            return handler(args)
        except info.RemovalFailed as exc:
            raise UsageError(str(exc)) from None

    def _cmd_panel(self, args: argparse.Namespace) -> Any:
        memory = _memory()
        try:
            from jlcache.widget.view import panel
        except ImportError:
            return self._cmd_info(args)
        return panel(memory)

    def _cmd_info(self, args: argparse.Namespace) -> None:
        store = _store()
        print(info.format_table(info.collect(store), _memory().location))

    def _cmd_dir(self, args: argparse.Namespace) -> None:
        from jlcache.ipython import set_location

        if args.mmap_mode is not None and args.target is None:
            raise UsageError("--mmap-mode needs a PATH: %jlcache dir PATH --mmap-mode r")
        if args.target is not None:
            if not args.target.strip():
                raise UsageError("%jlcache dir PATH: PATH is empty.")
            try:
                set_location(args.target, mmap_mode=args.mmap_mode)
            except (OSError, ValueError, JlcacheError) as exc:  # JlcacheError: a bad FORMAT
                raise UsageError(f"cannot use {args.target!r} as the cache location: {exc}") from None
        print(f"jlcache cache location: {_memory().location}")

    def _cmd_bridge(self, args: argparse.Namespace) -> None:
        from jlcache.ipython import bridge

        print(bridge.command(args.target))

    def _cmd_clear(self, args: argparse.Namespace) -> None:
        chosen = [bool(args.target), args.stale, args.all]
        if sum(chosen) != 1:
            raise UsageError("%jlcache clear needs exactly one of: a function or cell name, "
                             "--stale, or --all (e.g. %jlcache clear my_func).")
        if args.yes and not (args.all or args.stale):
            raise UsageError("--yes only goes with `%jlcache clear --all` or `--stale`.")
        store = _store()
        if args.stale:
            self._clear_stale(store, args.yes)
        elif args.all:
            self._clear_all(store, args.yes)
        else:
            targets = info.resolve_target(store, self.shell.user_ns, args.target)
            if not targets:
                raise UsageError(f"no cached function or cell named {args.target!r} in "
                                 f"{store.url}; `%jlcache info` lists what is cached.")
            if len(targets) > 1:
                names = ", ".join(g for _, g in targets)
                raise UsageError(f"{args.target!r} matches several cached groups ({names}); "
                                 "give the full name.")
            n_removed = info.delete_groups(store, targets)
            print(f"removed {targets[0][0][:-1]} {targets[0][1]} ({n_removed} "
                  f"entr{'y' if n_removed == 1 else 'ies'})")

    def _clear_all(self, store: Store, yes: bool) -> None:
        rows = info.collect(store)
        summary = (f"{len(rows)} cached functions/cells, {sum(r.entries for r in rows)} entries, "
                   f"{info.human_bytes(sum(r.bytes for r in rows))} in {store.url}")
        if not yes and not _confirm(f"This removes {summary}.", "%jlcache clear --all --yes"):
            return
        with info.removing(store.describe(), contents=True):
            _memory().clear(warn=False)
        print(f"removed {summary}")

    def _clear_stale(self, store: Store, yes: bool) -> None:
        """Ask first, like ``--all`` and the panel's *clear stale*: results of a version the
        user still wants are only one re-run cell away from being "current" again."""
        stale = info.stale_summary(store)
        if stale and not yes:
            listing = "".join(f"\n  {line}" for line in stale)
            if not _confirm(f"This removes {len(stale)} stale version(s) (no cell of this session "
                            f"defines them any more):{listing}", "%jlcache clear --stale --yes"):
                return
        removed = info.clear_stale(store)
        print(f"removed {len(removed)} stale version(s)"
              + "".join(f"\n  {k[:-1]} {g} @ {v}" for k, g, v in removed))


def _a(noun: str) -> str:
    """``"an int"``, ``"a float"``: error messages are read by people."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _confirm(what: str, unasked: str) -> bool:
    """Print ``what`` and ask; no answer possible here (nbconvert, a script) deletes nothing."""
    print(what)
    try:
        answer = input("Delete them? [y/N] ")
    except (EOFError, OSError, StdinNotImplementedError):
        print(f"Nothing was deleted (no way to ask here): run `{unasked}` to delete without "
              "asking.")
        return False
    if answer.strip().lower() not in ("y", "yes"):
        print("Nothing was deleted.")
        return False
    return True


def _memory() -> Any:
    """The extension's Memory; a default location that cannot be used is a ``UsageError``.

    Why: ``$JLCACHE_DIR`` or ``./.jlcache`` may hold a newer or damaged ``FORMAT``, or be
    unsafe; that is the same mistake as a bad ``%jlcache dir PATH`` and deserves the same
    one-line message, not a traceback through the store.
    """
    from jlcache.ipython import get_memory

    try:
        return get_memory()
    except (OSError, ValueError, JlcacheError) as exc:
        raise UsageError(f"the cache location cannot be used: {exc} Choose another with "
                         "`%jlcache dir PATH` (or set $JLCACHE_DIR before starting).") from None


def _store() -> Store:
    store = _memory().store
    if store is None:
        raise UsageError("caching is disabled (no cache location); set one with "
                         "`%jlcache dir PATH`.")
    return store


def _raw_remainder(line: str, tokens: list[str]) -> str:
    """The user's own text for FUNC ITERABLE (argparse tokens lose the spacing between them)."""
    if not tokens:
        return ""
    from IPython.utils.process import arg_split

    n_options = len(arg_split(line, strict=False)) - len(tokens)
    parts = line.split(None, n_options)
    rest = parts[n_options] if 0 <= n_options < len(parts) else ""
    return rest.strip() if rest.startswith(tokens[0]) else " ".join(tokens)


def _check_parallel_options(n_jobs: int, backend: str | None) -> None:
    """-n and -b, checked before anything runs (a bad one is the user's typo, not FUNC's)."""
    from jlcache.errors import BackendUnavailableError
    from jlcache.parallel import backends

    if n_jobs == 0:
        raise UsageError("-n 0 means no workers; give a positive number, or -1 for all CPUs.")
    if abs(n_jobs) > sys.maxsize:
        raise UsageError(f"-n {n_jobs} is too large; give a number of workers such as 4, or -1 "
                         "for all CPUs.")
    if backend is None:
        return
    try:
        backends.check_known(backend)
        backends.get_factory(backend)
    except (ValueError, BackendUnavailableError) as exc:
        raise UsageError(f"-b {backend}: {exc}") from None
