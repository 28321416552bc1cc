"""Bad input to the API: hashing stays deterministic across interpreters, and an argument that
cannot become a key or cannot reach a worker is named in the error.

In-process properties of ``hash`` (equal values hash equal, a large generated set never
collides) live in ``tests/test_hashing.py``; this file adds the same generated values
hashed again in a fresh interpreter with another ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jlcache import Memory
from jlcache.errors import UnhashableError, UnpicklableTaskError
from jlcache.hashing.hasher import hash
from jlcache.parallel import Parallel, delayed
from tests.hashing.test_hashing import values
from tests.reliability._helpers import child_env

PROCESS_BACKENDS = ["loky", "multiprocessing"]
_HASH_IN_CHILD = """
import base64, json, pickle, sys
from jlcache.hashing.hasher import hash
batch = pickle.loads(base64.b64decode(sys.stdin.read()))
print(json.dumps([hash(v) for v in batch]))
"""
_strings = st.text(min_size=1, max_size=6)  # sets of str iterate in a seed-dependent order


_generated = (values | st.frozensets(_strings, min_size=2) | st.sets(_strings, min_size=2)
              | st.dictionaries(_strings, values, min_size=2, max_size=4))


@pytest.mark.slow
def test_generated_values_hash_the_same_in_a_fresh_interpreter_with_another_seed():
    batch: list = []

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_generated)
    def collect(value):  # hypothesis generates; one child per seed checks them all at once
        batch.append(value)

    collect()
    here = [hash(v) for v in batch]
    assert len(batch) >= 100
    for seed in ("0", "12345"):
        proc = subprocess.run([sys.executable, "-c", _HASH_IN_CHILD], text=True,
                              capture_output=True, timeout=120,
                              input=base64.b64encode(pickle.dumps(batch)).decode(),
                              env=child_env(PYTHONHASHSEED=seed))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == here


class Opaque:
    """Neither hashable into a key nor picklable (holds a generator)."""

    def __init__(self) -> None:
        self.gen = (i for i in range(3))


def takes(x, opaque=None):
    return x


def test_unhashable_argument_through_memory_names_it(memory):
    f = memory.cache(takes)
    with pytest.raises(UnhashableError, match="'opaque'"):
        f(1, opaque=Opaque())


@pytest.mark.parametrize("backend", ["threading", *PROCESS_BACKENDS])
def test_unhashable_argument_of_a_cached_function_through_parallel_names_it(memory, backend):
    f = memory.cache(takes)
    with pytest.raises(UnhashableError, match="'opaque'"):
        Parallel(n_jobs=2, backend=backend)(delayed(f)(i, opaque=Opaque()) for i in range(3))
    assert Parallel(n_jobs=2, backend=backend)(delayed(f)(i) for i in range(3)) == [0, 1, 2]


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
def test_unpicklable_argument_through_parallel_names_it(backend):
    with pytest.raises(UnpicklableTaskError, match=r"Opaque|generator"):
        Parallel(n_jobs=2, backend=backend)(delayed(takes)(i, Opaque()) for i in range(3))


def test_cached_function_with_an_ignored_unpicklable_argument_names_it(cache_dir):
    f = Memory(cache_dir).cache(takes, ignore=["opaque"])  # keyable, but cannot be sent
    with pytest.raises(UnpicklableTaskError, match=r"Opaque|generator"):
        Parallel(n_jobs=2)(delayed(f)(i, opaque=Opaque()) for i in range(3))
