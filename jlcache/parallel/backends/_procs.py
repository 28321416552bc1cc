"""Shared helpers of the process backends: explaining how a worker died."""

from __future__ import annotations

import signal
from collections.abc import Iterable
from concurrent.futures import Future

from jlcache.errors import WorkerCrashedError

__all__ = ["crash_error", "describe_exit_code", "failed_future"]

_LIKELY = {
    "SIGSEGV": "a segmentation fault in native code (a C extension, ctypes, a corrupted array)",
    "SIGBUS": "a bus error in native code, or a memory map whose file was truncated",
    "SIGKILL": "the operating system's out-of-memory killer (the task used too much memory), "
               "or someone killed the process",
    "SIGABRT": "an abort in native code (a failed C assertion, a double free)",
    "SIGFPE": "an arithmetic fault in native code",
    "SIGILL": "an illegal instruction in native code (a binary built for another CPU)",
    "SIGTERM": "the process was asked to terminate by someone else",
}


def describe_exit_code(code: int) -> tuple[str, str]:
    """``(what happened, likely cause)`` for a worker's exit code (negative = signal)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return (f"killed by signal {name} (exit code {code})",
                _LIKELY.get(name, "a signal sent by the system or another process"))
    return (f"exited with code {code}",
            "the task called os._exit() or sys.exit() from a thread, or a native library "
            "terminated the process")


def crash_error(exit_codes: Iterable[int | None], backend: str, detail: str = "") -> Exception:
    """Build the user-facing error for a pool whose worker died."""
    codes = [c for c in exit_codes if c not in (None, 0)]
    if codes:
        # the workers the pool killed itself after the crash show up as SIGTERM/SIGKILL;
        # prefer a more specific code when there is one, and SIGKILL (an out-of-memory
        # kill, as often as not) over SIGTERM (what a pool sends its other workers)
        ranked = sorted(codes, key=lambda c: (c == -signal.SIGTERM, c == -signal.SIGKILL))
        what, why = describe_exit_code(ranked[0])
    else:
        what, why = "died", "a crash in native code, an out-of-memory kill or os._exit()"
    msg = (f"A {backend} worker process {what} while running a task. Likely cause: {why}. "
           "The pool was shut down and will be restarted by the next Parallel call; run the "
           "failing task with backend='sequential' to see the error in this process.")
    if detail:
        msg += f"\n({detail})"
    return WorkerCrashedError(msg)


def failed_future(exc: BaseException) -> Future:
    """A future holding ``exc``: a pool that broke between two submits then reports the crash
    through the engine's usual path (explained, retried once) instead of from ``submit``."""
    future: Future = Future()
    future.set_exception(exc)
    return future
