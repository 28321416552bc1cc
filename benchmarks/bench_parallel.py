"""Parallel engine: jlcache vs joblib 1.6 in the same run (issue 3's targets).

Run: ``.venv/bin/python benchmarks/bench_parallel.py [--quick]``. Cold starts and memory
peaks are measured in fresh interpreters; everything else is a best-of-N in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import joblib
from _common import Row, best_of, print_table

from jlcache.parallel import Parallel, delayed

LIBS = {"jlcache": (Parallel, delayed), "joblib": (joblib.Parallel, joblib.delayed)}
REPO = Path(__file__).resolve().parents[1]


def trivial(x):
    return x


def busy(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def sleepy(x):
    time.sleep(0.1)
    return x


def _throughput(lib: str, backend: str, n: int, repeat: int) -> float:
    P, d = LIBS[lib]
    P(n_jobs=2, backend=backend)(d(trivial)(i) for i in range(100))  # warm the pool
    return best_of(lambda: P(n_jobs=2, backend=backend)(d(trivial)(i) for i in range(n)),
                   repeat=repeat)


def _fmt_rate(n: int):
    return lambda seconds: f"{n / seconds:,.0f} tasks/s"


def bench_throughput(quick: bool) -> list[Row]:
    n = 100_000
    rows = []
    for backend, factor in (("loky", 2), ("threading", 4)):
        ours = _throughput("jlcache", backend, n, 2 if quick else 3)
        theirs = _throughput("joblib", backend, n, 2 if quick else 3)
        rows.append(Row(f"{n:,} trivial tasks, {backend}, n_jobs=2", ours, theirs,
                        f">= {factor}x joblib's rate", theirs / ours >= factor, _fmt_rate(n)))
    return rows


def bench_warm(quick: bool) -> Row:
    times = {}
    for lib, (P, d) in LIBS.items():
        P(n_jobs=2)(d(trivial)(i) for i in range(1000))
        times[lib] = best_of(lambda P=P, d=d: P(n_jobs=2)(d(trivial)(i) for i in range(1000)),
                             repeat=5 if quick else 15)
    return Row("1,000 trivial tasks, warm loky pool", times["jlcache"], times["joblib"],
               "<= 0.5x joblib", times["jlcache"] <= 0.5 * times["joblib"])


COLD = """
import time
t0 = time.perf_counter()
from {module} import Parallel, delayed
t1 = time.perf_counter()
def f(x):
    return x
Parallel(n_jobs=2)(delayed(f)(i) for i in range(1000))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _cold(module: str, repeat: int) -> tuple[float, float]:
    best_import = best_call = float("inf")
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", COLD.format(module=module)], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
        best_import, best_call = min(best_import, float(out[0])), min(best_call, float(out[1]))
    return best_import, best_call


def bench_cold(quick: bool) -> list[Row]:
    repeat = 2 if quick else 4
    ours_imp, ours_call = _cold("jlcache", repeat)
    theirs_imp, theirs_call = _cold("joblib", repeat)
    return [
        Row("cold first call (1,000 tasks, fresh interpreter)", ours_call, theirs_call,
            "<= 0.6x joblib", ours_call <= 0.6 * theirs_call),
        Row("cold import + first call", ours_imp + ours_call, theirs_imp + theirs_call,
            "(informative)", True),
    ]


def bench_cpu(quick: bool) -> Row:
    n = 8
    seq = best_of(lambda: [busy(0.5) for _ in range(n)], repeat=1)
    par = best_of(lambda: Parallel(n_jobs=2)(delayed(busy)(0.5) for _ in range(n)), repeat=2)
    jl = best_of(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(busy)(0.5) for _ in range(n)),
                 repeat=1)
    speedup = seq / par
    row = Row(f"8 CPU-bound tasks of 0.5 s (speedup {speedup:.2f}x over sequential)", par, jl,
              ">= 1.8x speedup", speedup >= 1.8)
    return row


SHARED = """
import resource, time
import numpy as np
from {module} import Parallel, delayed
def f(a, i):
    return float(a[i])
arr = np.ones(25_000_000)  # 200 MB
Parallel(n_jobs=2)(delayed(f)(np.ones(10), 0) for i in range(2))  # warm the pool
def timed(call):
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0
first = timed(lambda: Parallel(n_jobs=2)(delayed(f)(arr, i) for i in range(20)))
again = min(timed(lambda: Parallel(n_jobs=2)(delayed(f)(arr, i) for i in range(20)))
            for _ in range({repeat}))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / arr.nbytes
block = float("nan")
if {module!r} == "jlcache":  # jlcache keeps shared files for the duration of a with block
    with Parallel(n_jobs=2) as parallel:
        parallel(delayed(f)(arr, i) for i in range(20))
        block = min(timed(lambda: parallel(delayed(f)(arr, i) for i in range(20)))
                    for _ in range({repeat}))
print(first, again, peak, block)
"""


def bench_shared(quick: bool) -> list[Row]:
    res = {}
    for module in ("jlcache", "joblib"):
        out = subprocess.run([sys.executable, "-c", SHARED.format(module=module,
                              repeat=2 if quick else 3)],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
        res[module] = [float(x) for x in out]
    ours, theirs = res["jlcache"], res["joblib"]
    return [
        Row("20 tasks sharing one 200 MB array: first call", ours[0], theirs[0],
            "<= 0.7x joblib", ours[0] <= 0.7 * theirs[0]),
        Row("  repeated calls (joblib reuses its dump; jlcache writes once per call)",
            ours[1], theirs[1], "<= 0.7x joblib", ours[1] <= 0.7 * theirs[1]),
        Row("  repeated calls, jlcache inside `with Parallel(...)`", ours[3], theirs[1],
            "<= 0.7x joblib", ours[3] <= 0.7 * theirs[1]),
        Row("  parent peak RSS / array size", ours[2], theirs[2], "< 1.3",
            ours[2] < 1.3, lambda x: f"{x:.2f}"),
    ]


def bench_generator(quick: bool) -> Row:
    firsts = []
    with Parallel(n_jobs=2, return_as="generator") as parallel:
        list(parallel(delayed(trivial)(i) for i in range(10)))
        for _ in range(3):
            t0 = time.perf_counter()
            gen = parallel(delayed(sleepy)(i) for i in range(6))
            next(gen)
            firsts.append(time.perf_counter() - t0)
            list(gen)
    jl_firsts = []
    for _ in range(3):
        t0 = time.perf_counter()
        gen = joblib.Parallel(n_jobs=2, return_as="generator")(
            joblib.delayed(sleepy)(i) for i in range(6))
        next(gen)
        jl_firsts.append(time.perf_counter() - t0)
        list(gen)
    first = min(firsts)
    return Row("generator: first result of 0.1 s tasks", first, min(jl_firsts),
               "<= 0.1 s + 20 ms", first <= 0.12)


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"joblib {joblib.__version__}")
    rows = [*bench_throughput(quick), bench_warm(quick), *bench_cold(quick), bench_cpu(quick),
            *bench_shared(quick), bench_generator(quick)]
    print_table("Parallel", rows)
    print("\n(times are best-of-N on a shared machine: compare the ratios, not the absolutes)")


if __name__ == "__main__":
    main()
