"""Process workers limit their native thread pools (BLAS, OpenMP) as joblib's do.

Without it, every worker starts as many BLAS threads as the machine has CPUs and numeric
tasks (a scikit-learn fit in a grid search) run several times slower.
"""

from __future__ import annotations

import json

CHILD = """
import json, os
import jlcache
from jlcache.parallel.backends.loky import shutdown_pool

def limits(_):
    return {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS")}

default = jlcache.Parallel(n_jobs=2)(jlcache.delayed(limits)(i) for i in range(2))
shutdown_pool()
with jlcache.parallel_config(inner_max_num_threads=3):
    explicit = jlcache.Parallel(n_jobs=2)(jlcache.delayed(limits)(i) for i in range(2))
print(json.dumps({"default": default, "explicit": explicit,
                  "share": str(max(jlcache.cpu_count() // 2, 1))}))
"""


def test_workers_share_the_cpus_out_unless_told_otherwise(python):
    out = json.loads(python(CHILD).stdout.strip().splitlines()[-1])
    share = out["share"]
    assert out["default"] == [dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                             "MKL_NUM_THREADS"), share)] * 2
    assert out["explicit"] == [dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS"), "3")] * 2


def test_a_limit_set_in_the_callers_environment_is_kept(python):
    out = json.loads(python(CHILD, env={"OPENBLAS_NUM_THREADS": "5"}).stdout.splitlines()[-1])
    assert {d["OPENBLAS_NUM_THREADS"] for d in out["default"]} == {"5"}
