"""Parent memory for 1e6 trivial tasks: jlcache's ``Parallel`` vs joblib's (issues 10, 14).

Run: ``python benchmarks/bench_parallel_memory.py [--quick]``. Each figure comes from a fresh
interpreter: import, warm the pool with 100 tasks, reset the kernel's peak-RSS counter
(``/proc/self/clear_refs``), run the map, then read the peak (``VmHWM``). The figure is that
peak minus the RSS just before the call, so imports and pool start-up do not count, only what
the parent holds while it feeds a million tasks to the workers and collects their results.

Why a benchmark and not a unit test: the figure is only meaningful next to joblib's on the
same machine; ``tests/reliability/test_parallel_memory.py`` has a cheap absolute bound.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fmt_bytes, fmt_time, print_table

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import re, sys, time
from {module} import Parallel, delayed

def trivial(x):
    return x

def status(field):
    return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

n, backend, mode = {n}, {backend!r}, {mode!r}
Parallel(n_jobs=2, backend=backend)(delayed(trivial)(i) for i in range(100))  # warm the pool
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current RSS
before = status("VmRSS")
t0 = time.perf_counter()
if mode == "list":
    out = Parallel(n_jobs=2, backend=backend)(delayed(trivial)(i) for i in range(n))
    assert len(out) == n and out[-1] == n - 1
else:  # consumed as produced, nothing kept: what the engine itself buffers
    total = 0
    for value in Parallel(n_jobs=2, backend=backend, return_as="generator")(
            delayed(trivial)(i) for i in range(n)):
        total += 1
    assert total == n
seconds = time.perf_counter() - t0
print(status("VmHWM") - before, seconds)
"""


def measure(module: str, n: int, backend: str, mode: str) -> tuple[float, float]:
    """(parent peak RSS growth in bytes, seconds) for one map in a fresh interpreter."""
    code = CHILD.format(module=module, n=n, backend=backend, mode=mode)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="loky only (joblib's threading "
                        "backend needs over a minute for 1e6 tasks)")
    args = parser.parse_args()
    n = 1_000_000
    cases = [("loky", "list"), ("loky", "generator"), ("sequential", "list"),
             ("sequential", "generator")]
    if not args.quick:
        cases.append(("threading", "list"))
    rows, times = [], []
    for backend, mode in cases:
        ours, ours_s = measure("jlcache", n, backend, mode)
        theirs, theirs_s = measure("joblib", n, backend, mode)
        label = "results kept in a list" if mode == "list" else "generator, nothing kept"
        jobs = "n_jobs=1" if backend == "sequential" else "n_jobs=2"
        rows.append(Row(f"1e6 trivial tasks, {backend}, {jobs}, {label}", ours, theirs,
                        "<= joblib", ours <= theirs, fmt_bytes))
        times.append(f"{backend}/{mode}: jlcache {fmt_time(ours_s)}, joblib {fmt_time(theirs_s)}")
    print_table("Parallel: parent peak RSS growth during the call (fresh interpreters)", rows)
    print("\n(the list of 1e6 int results is itself ~36 MB in both libraries)")
    print("wall time of the same runs: " + "; ".join(times))


if __name__ == "__main__":
    main()
