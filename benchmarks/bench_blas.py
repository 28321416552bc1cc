"""BLAS-heavy parallel map: jlcache vs joblib 1.6, and what the workers' thread cap buys.

Run: ``.venv/bin/python benchmarks/bench_blas.py [--quick]``. Each task multiplies matrices
(numpy's BLAS, which starts one thread per core unless capped); ``n_jobs`` workers with an
uncapped BLAS each run ``cpu_count()`` threads on the same cores. Like joblib, jlcache gives
loky workers ``cpu_count() // n_jobs`` BLAS/OpenMP threads by default; the second table runs
jlcache without that cap (``inner_max_num_threads=cpu_count()``, jlcache's behaviour before
issue 15) for comparison.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import joblib
import numpy as np
from _common import Row, best_of, print_table

from jlcache.parallel import Parallel, cpu_count, delayed, parallel_config

N = 700       # matrix size: ~0.7 GFLOP per product
PRODUCTS = 4  # products per task


def blas_task(seed: int) -> float:
    """Matrix products on data made in the worker (nothing large travels)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, N))
    for _ in range(PRODUCTS):
        a = (a @ a.T) / N
    return float(np.trace(a))


def blas_threads(_=None) -> int | None:
    import threadpoolctl

    a = np.ones((64, 64))
    a @ a
    info = [m["num_threads"] for m in threadpoolctl.threadpool_info() if m["user_api"] == "blas"]
    return info[0] if info else None


def _time(parallel_cls, delayed_fn, n_tasks: int, repeat: int, **kwargs) -> tuple[float, set]:
    threads = set(parallel_cls(n_jobs=2, **kwargs)(delayed_fn(blas_threads)(i) for i in range(2)))
    seconds = best_of(lambda: parallel_cls(n_jobs=2, **kwargs)(
        delayed_fn(blas_task)(i) for i in range(n_tasks)), repeat=repeat)
    return seconds, threads


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 2 if quick else 4
    n_tasks = 8 if quick else 16
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(var, None)  # the defaults are what is measured
    print(f"machine: {os.cpu_count()} CPUs (cpu_count() {cpu_count()}), load average "
          f"{os.getloadavg()[0]:.1f}; joblib {joblib.__version__}, numpy {np.__version__}")
    ours, ours_threads = _time(Parallel, delayed, n_tasks, repeat, backend="loky")
    theirs, their_threads = _time(joblib.Parallel, joblib.delayed, n_tasks, repeat,
                                  backend="loky")
    with parallel_config("loky", inner_max_num_threads=cpu_count()):
        uncapped, uncapped_threads = _time(Parallel, delayed, n_tasks, repeat)
    label = f"{n_tasks} tasks x {PRODUCTS} products of {N}x{N}, loky, n_jobs=2"
    print_table("BLAS-heavy Parallel", [
        Row(f"{label} (worker BLAS threads: ours {sorted(ours_threads)}, joblib "
            f"{sorted(their_threads)})", ours, theirs, "<= 1.1x joblib's time",
            ours <= 1.1 * theirs),
    ])
    print_table("jlcache: default thread cap vs uncapped workers", [
        Row(f"{label} (worker BLAS threads: capped {sorted(ours_threads)}, uncapped "
            f"{sorted(uncapped_threads)})", ours, uncapped, "capped not slower",
            ours <= 1.05 * uncapped),
    ], ours="capped", theirs="uncapped")
    print("\n(times are best-of-N on a shared machine: compare the ratios, not the absolutes)")


if __name__ == "__main__":
    main()
