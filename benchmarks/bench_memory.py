"""jlcache.Memory vs joblib.Memory on the same workloads, in the same process.

Run: ``python benchmarks/bench_memory.py [--quick] [--big]``. ``--quick`` uses smaller
repeat counts; ``--big`` adds the 1 GB point of the "mmap hit is constant in size" check.
Prints one Markdown table (figures, joblib/jlcache ratio, the issue's target).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Row, allocated_bytes, best_of, fmt_bytes, per_call, print_table, scratch_dir

import jlcache

warnings.simplefilter("ignore")  # joblib's "persisting input arguments took" and friends


def small(x):
    return x + 1


def total(a):
    return float(a[:10].sum())


def ones(n):
    return np.ones(n)


def tiny(i):
    return i


def both(location: str, **kwargs) -> tuple[jlcache.Memory, joblib.Memory]:
    ours = jlcache.Memory(os.path.join(location, "jlcache"), **kwargs)
    theirs = joblib.Memory(os.path.join(location, "joblib"), verbose=0, **kwargs)
    return ours, theirs


def bench_small_hit(n: int) -> Row:
    with scratch_dir() as d:
        ours, theirs = both(d)
        f, g = ours.cache(small), theirs.cache(small)
        f(3), g(3)
        t_ours = per_call(lambda: f(3), number=n)
        t_theirs = per_call(lambda: g(3), number=max(n // 4, 50))
    return Row("hit f(3)", t_ours, t_theirs, ">= 2x", t_theirs / t_ours >= 2)


def bench_array_arg_hit(repeat: int) -> Row:
    a = np.random.default_rng(0).random(10 * 2**20 // 8)  # 10 MB
    with scratch_dir() as d:
        ours, theirs = both(d)
        f, g = ours.cache(total), theirs.cache(total)
        f(a), g(a)
        t_ours = per_call(lambda: f(a), number=20, repeat=repeat)
        t_theirs = per_call(lambda: g(a), number=5, repeat=repeat)
    return Row("hit f(10 MB array)", t_ours, t_theirs, ">= 8x", t_theirs / t_ours >= 8)


def bench_mmap_hit(repeat: int, big: bool) -> list[Row]:
    sizes = {"1 MB": 2**20 // 8, "100 MB": 100 * 2**20 // 8}
    if big:
        sizes["1 GB"] = 2**30 // 8
    times: dict[str, tuple[float, float]] = {}
    for label, n in sizes.items():
        with scratch_dir() as d:
            ours, theirs = both(d, mmap_mode="r")
            f, g = ours.cache(ones), theirs.cache(ones)
            f(n), g(n)
            times[label] = (per_call(functools.partial(f, n), number=50, repeat=2 * repeat),
                            per_call(functools.partial(g, n), number=50, repeat=2 * repeat))
    t_ours, t_theirs = times["100 MB"]
    spread = max(t for t, _ in times.values()) / min(t for t, _ in times.values())
    return [
        Row("mmap_mode='r' hit, 100 MB result", t_ours, t_theirs, ">= 1x", t_theirs >= t_ours * 0.95),
        Row(f"  same, {' vs '.join(times)} (max/min, ours)", spread, None, "<= 2", spread <= 2,
            fmt=lambda v: f"{v:.2f}"),
    ]


def bench_first_store(repeat: int) -> Row:
    n = 100 * 2**20 // 8
    with scratch_dir() as d:
        ours, theirs = both(d)
        f, g = ours.cache(ones), theirs.cache(ones)
        t_ours = best_of(lambda: f(n), repeat=repeat, setup=lambda: ours.clear(warn=False))
        t_theirs = best_of(lambda: g(n), repeat=repeat, setup=lambda: theirs.clear(warn=False))
    return Row("first call storing 100 MB", t_ours, t_theirs, ">= 1x", t_theirs >= t_ours * 0.95)


def bench_tiny_entries(count: int) -> list[Row]:
    with scratch_dir() as d:
        ours, theirs = both(d)
        f, g = ours.cache(tiny), theirs.cache(tiny)
        t_ours = best_of(lambda: [f(i) for i in range(count)], repeat=1)
        t_theirs = best_of(lambda: [g(i) for i in range(count)], repeat=1)
        ours.store.flush() if hasattr(ours.store, "flush") else None
        disk_ours, inodes_ours = allocated_bytes(os.path.join(d, "jlcache"))
        disk_theirs, inodes_theirs = allocated_bytes(os.path.join(d, "joblib"))
    return [
        Row(f"{count} tiny entries: miss+store per call", t_ours / count, t_theirs / count,
            ">= 1x", t_theirs >= t_ours),
        Row(f"{count} tiny entries: allocated disk", disk_ours, disk_theirs, ">= 2x",
            disk_theirs >= 2 * disk_ours, fmt=fmt_bytes),
        Row(f"{count} tiny entries: inodes", inodes_ours, inodes_theirs, "-", True,
            fmt=lambda v: f"{v:.0f}"),
    ]


def bench_import(repeat: int) -> list[Row]:
    cmd = [sys.executable, "-X", "importtime", "-c", "import jlcache, sys; assert 'IPython' not in sys.modules"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    cumulative = [int(m.group(1)) for m in re.finditer(r"\|\s*(\d+) \| \s*jlcache$", out, re.M)]
    importtime = cumulative[-1] / 1e6 if cumulative else float("nan")

    def wall(code: str) -> float:
        return statistics.median(best_of(lambda: subprocess.run([sys.executable, "-c", code], check=True),
                                         repeat=1) for _ in range(repeat))

    t_import = wall("import jlcache")
    t_bare = wall("pass")
    t_joblib = wall("import joblib")
    return [
        Row("import jlcache (-X importtime, cumulative)", importtime, None, "< 100 ms", importtime < 0.1),
        Row("python -c 'import X' wall (vs joblib)", t_import, t_joblib, "< 100 ms over bare",
            t_import - t_bare < 0.1),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--big", action="store_true", help="include the 1 GB mmap point")
    opts = parser.parse_args()
    repeat = 3 if opts.quick else 7
    rows: list[Row] = []
    rows.append(bench_small_hit(2000 if opts.quick else 10000))
    rows.append(bench_array_arg_hit(repeat))
    rows += bench_mmap_hit(repeat, opts.big)
    rows.append(bench_first_store(3 if opts.quick else 5))
    rows += bench_tiny_entries(2000)
    rows += bench_import(repeat)
    print_table(f"Memory: jlcache {jlcache.__version__} vs joblib {joblib.__version__} "
                f"({os.cpu_count()} CPUs; best of N, shared machine)", rows)


if __name__ == "__main__":
    main()
