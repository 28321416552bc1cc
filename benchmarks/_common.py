"""Tiny timing helpers shared by the benchmark scripts.

The machine is shared and noisy, so every figure is a best-of-N (the minimum is the least
disturbed run); each script prints one table row per workload: jlcache, joblib, their
ratio, and the target the issue sets.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Row", "allocated_bytes", "best_of", "fmt_bytes", "fmt_time", "per_call", "print_table",
           "scratch_dir"]


def best_of(fn: Callable[[], object], repeat: int = 5, setup: Callable[[], object] | None = None) -> float:
    """The fastest of ``repeat`` runs of ``fn`` in seconds (``setup`` runs untimed before each)."""
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_call(fn: Callable[[], object], number: int = 1000, repeat: int = 5) -> float:
    """Seconds per call of a fast ``fn``: best of ``repeat`` loops of ``number`` calls."""

    def loop() -> None:
        for _ in range(number):
            fn()

    return best_of(loop, repeat=repeat) / number


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


@dataclass
class Row:
    """One workload: both figures, how to show them, and whether the target is met."""

    name: str
    ours: float
    theirs: float | None
    target: str
    ok: bool
    fmt: Callable[[float], str] = fmt_time

    @property
    def ratio(self) -> str:
        if not self.theirs or not self.ours:
            return "-"
        return f"{self.theirs / self.ours:.2f}x"


def print_table(title: str, rows: list[Row], ours: str = "jlcache", theirs: str = "joblib") -> None:
    """Print rows as an aligned Markdown table (pasteable into benchmarks/README.md)."""
    header = ["workload", ours, theirs, f"{theirs}/{ours}", "target", "met"]
    body = [[r.name, r.fmt(r.ours), "-" if r.theirs is None else r.fmt(r.theirs), r.ratio,
             r.target, "yes" if r.ok else "NO"] for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    print(f"\n### {title}\n")
    for i, line in enumerate([header, *body]):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


@contextmanager
def scratch_dir(prefix: str = "jlcache-bench-") -> Iterator[str]:
    """A temporary directory on the same disk as ``$TMPDIR``, removed afterwards."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def allocated_bytes(root: str) -> tuple[int, int]:
    """(bytes allocated on disk, inode count) of everything under ``root`` (st_blocks * 512)."""
    total = inodes = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            total += st.st_blocks * 512
            inodes += 1
    return total, inodes

