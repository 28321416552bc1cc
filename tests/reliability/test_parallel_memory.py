"""Parent memory while ``Parallel`` maps 1e6 trivial tasks: tasks are made as they are sent.

The probe found the parent's peak RSS for 1e6 tasks at or below joblib's; the comparison
lives in ``benchmarks/bench_parallel_memory.py``. This test keeps an absolute bound that a
regression to building every task up front would break: 1e6 ``delayed`` calls held at once
cost ~250 MB on CPython 3.11, while a lazy engine needs ~30 MB (generator) or ~65 MB (a list
of 1e6 int results, ~36 MB of which are the results themselves).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability._helpers import finish, spawn

MB = 2**20

CHILD = """
import re
from jlcache import Parallel, delayed

def trivial(x):
    return x

def status(field):
    text = open("/proc/self/status").read()
    return int(re.search(field + r":\\s+(\\d+) kB", text).group(1)) * 1024

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := current RSS
    return status("VmRSS")

n = 1_000_000
Parallel(n_jobs=2)(delayed(trivial)(i) for i in range(100))  # start the pool first
before = reset_peak()
seen = 0
for value in Parallel(n_jobs=2, return_as="generator")(delayed(trivial)(i) for i in range(n)):
    assert value == seen, (value, seen)
    seen += 1
assert seen == n
generator = status("VmHWM") - before
before = reset_peak()
out = Parallel(n_jobs=2)(delayed(trivial)(i) for i in range(n))
assert out == list(range(n))
listed = status("VmHWM") - before
print(generator, listed)
"""


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM" in Path("/proc/self/status").read_text()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _can_reset_peak(), reason="needs Linux's resettable peak RSS (VmHWM)")
def test_parent_peak_rss_for_1e6_trivial_tasks_stays_small():
    [out] = finish([spawn(CHILD)], timeout=120)
    generator, listed = (int(x) for x in out.split())
    assert generator < 96 * MB, f"generator: parent peak grew by {generator / MB:.0f} MB"
    assert listed < 160 * MB, f"list: parent peak grew by {listed / MB:.0f} MB"
