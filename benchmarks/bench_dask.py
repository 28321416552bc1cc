"""jlcache's dask backend vs joblib's, on the same 2-worker LocalCluster (issue 6).

Run: ``python benchmarks/bench_dask.py [--tasks 1000] [--ms 10] [--repeat 3]``.

Workload: 1,000 tasks of 10 ms (``time.sleep``, so the figure measures dispatch, not CPU
contention) on a ``LocalCluster(n_workers=2, threads_per_worker=1)``; the ideal is
tasks * ms / 2 workers = 5 s. Both libraries use the same client in the same run, runs
alternate, and the best of ``--repeat`` is kept (the machine is shared). Target: jlcache's
throughput at least equal to joblib's. A second row sends one 8 MB array to 200 tasks
(scattered once by both) to show that large arguments do not travel with every task.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, fmt_time, print_table


def sleepy(x: int, ms: float) -> int:
    time.sleep(ms / 1000)
    return x


def with_array(arr, i: int) -> float:
    return float(arr[i])


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import joblib
    import numpy as np
    from distributed import Client, LocalCluster

    from jlcache import Parallel, delayed, parallel_config

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR,
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    client = Client(cluster)
    n, ms = args.tasks, args.ms
    try:
        def ours() -> None:
            with parallel_config("dask"):
                out = Parallel()(delayed(sleepy)(i, ms) for i in range(n))
            assert out == list(range(n))

        def theirs() -> None:
            with joblib.parallel_config("dask"):
                out = joblib.Parallel()(joblib.delayed(sleepy)(i, ms) for i in range(n))
            assert out == list(range(n))

        arr = np.random.default_rng(0).random(1_000_000)  # 8 MB

        def ours_arr() -> None:
            Parallel(backend="dask")(delayed(with_array)(arr, i) for i in range(200))

        def theirs_arr() -> None:
            with joblib.parallel_config("dask"):
                joblib.Parallel()(joblib.delayed(with_array)(arr, i) for i in range(200))

        ours(), theirs()  # warm both (imports, worker-side function caches)
        t_ours = t_theirs = t_ours_arr = t_theirs_arr = float("inf")
        for _ in range(args.repeat):
            t_ours = min(t_ours, _time(ours))
            t_theirs = min(t_theirs, _time(theirs))
            t_ours_arr = min(t_ours_arr, _time(ours_arr))
            t_theirs_arr = min(t_theirs_arr, _time(theirs_arr))
    finally:
        client.close()
        cluster.close()

    ideal = n * ms / 1000 / 2
    rows = [
        Row(f"{n} tasks x {ms:g} ms, 2 workers (ideal {ideal:.2f} s)", t_ours, t_theirs,
            "throughput >= joblib's", t_ours <= t_theirs * 1.02),
        Row("200 tasks sharing one 8 MB array", t_ours_arr, t_theirs_arr, "(informative)", True),
    ]
    print_table("dask backend: jlcache vs joblib on one LocalCluster", rows)
    print(f"\njlcache: {n / t_ours:.0f} tasks/s ({ideal / t_ours:.0%} of ideal); "
          f"joblib: {n / t_theirs:.0f} tasks/s ({ideal / t_theirs:.0%} of ideal); "
          f"best of {args.repeat}, {fmt_time(t_ours)} vs {fmt_time(t_theirs)}")


if __name__ == "__main__":
    main()
