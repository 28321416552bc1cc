"""Does the joblib bridge cost scikit-learn time? Target: bridged <= 1.05x plain joblib (issue 13).

Run: ``python benchmarks/bench_bridge.py [--quick]``.

The workload is a ``GridSearchCV`` of 40 fits (8 candidates x 5 folds, ``n_jobs=2``) of a
``LogisticRegression`` that takes tens of milliseconds per fit: the kind of search a
notebook runs. It is timed in one process, alternately on plain joblib (its loky backend,
the bridge off) and bridged (jlcache's engine and pool), after one untimed warm-up of each
so that both pools are started and have imported scikit-learn. Medians are compared,
because the machine is shared and noisy; every run's time is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Row, print_table

import jlcache

GRID = {"C": [0.001, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]}
FOLDS = 5


def search(X, y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the extreme C values
        GridSearchCV(LogisticRegression(max_iter=300), GRID, cv=FOLDS, n_jobs=2).fit(X, y)
    return time.perf_counter() - t0


def timed(X, y, bridged: bool) -> float:
    with jlcache.bridge_joblib(bridged, progress=False):
        return search(X, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 alternating repeats instead of 7")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=3000, n_features=40, n_informative=10,
                               random_state=0)
    timed(X, y, False)  # warm-ups: pools started, scikit-learn imported in the workers
    timed(X, y, True)
    plain, bridged = [], []
    for i in range(repeat):
        order = (False, True) if i % 2 == 0 else (True, False)
        for b in order:
            (bridged if b else plain).append(timed(X, y, b))
    fmt = ", ".join
    print(f"plain joblib loky: {fmt(f'{t:.2f}' for t in plain)} s")
    print(f"bridged:           {fmt(f'{t:.2f}' for t in bridged)} s")
    ours, theirs = statistics.median(bridged), statistics.median(plain)
    rows = [Row(f"GridSearchCV, {len(GRID['C']) * FOLDS} fits, n_jobs=2 (median of {repeat})",
                ours, theirs, "bridged <= 1.05x plain", ours <= 1.05 * theirs)]
    print_table(f"joblib bridge (load average {os.getloadavg()[0]:.1f})", rows,
                ours="bridged", theirs="plain joblib")
    print(f"\nbridged / plain = {ours / theirs:.3f}")
    sys.exit(0 if rows[0].ok else 1)


if __name__ == "__main__":
    main()
