"""Turning the bridge on and off: joblib restored exactly, the context manager, bad input."""

from __future__ import annotations

import joblib
import joblib.parallel
import pytest

import jlcache
from jlcache.bridge import switch
from jlcache.bridge.call import bridged_call

JOBLIB_CALL = joblib.parallel.Parallel.__dict__["__call__"]


def _installed():
    return joblib.parallel.Parallel.__dict__["__call__"]


def test_on_then_off_restores_joblibs_own_call_object():
    before = _installed()
    jlcache.bridge_joblib()
    try:
        assert jlcache.bridge.is_bridged()
        assert _installed() is bridged_call
    finally:
        jlcache.bridge_joblib(False)
    assert not jlcache.bridge.is_bridged()
    assert _installed() is before is JOBLIB_CALL
    assert joblib.Parallel(n_jobs=2, prefer="threads")(joblib.delayed(abs)(-i) for i in range(3)) \
        == [0, 1, 2]


def test_context_manager_restores_the_previous_state_also_on_an_exception():
    with pytest.raises(ZeroDivisionError), jlcache.bridge_joblib():
        assert _installed() is bridged_call
        1 / 0  # noqa: B018
    assert _installed() is JOBLIB_CALL and not jlcache.bridge.is_bridged()
    jlcache.bridge_joblib()
    try:
        with jlcache.bridge_joblib(False):
            assert _installed() is JOBLIB_CALL
        assert _installed() is bridged_call, "leaving the block turns it back on"
    finally:
        jlcache.bridge_joblib(False)
    assert _installed() is JOBLIB_CALL


def test_a_later_patch_by_someone_else_is_left_in_place_and_still_reaches_joblib():
    seen = []

    def theirs(self, iterable):
        seen.append(1)
        return ours(self, iterable)

    jlcache.bridge_joblib()
    ours = _installed()
    joblib.parallel.Parallel.__call__ = theirs
    try:
        jlcache.bridge_joblib(False)
        assert _installed() is theirs
        assert joblib.Parallel(n_jobs=1)(joblib.delayed(abs)(-1) for _ in range(2)) == [1, 1]
        jlcache.bridge_joblib()  # on again: ours is still in their chain, not installed twice
        assert _installed() is theirs
        assert joblib.Parallel(n_jobs=1)(joblib.delayed(abs)(-1) for _ in range(2)) == [1, 1]
        assert seen == [1, 1]
    finally:
        jlcache.bridge_joblib(False)
        joblib.parallel.Parallel.__call__ = JOBLIB_CALL
        switch._state["original"] = None


@pytest.mark.parametrize("kwargs, match", [({"enabled": "on"}, "enabled"),
                                           ({"progress": 1}, "progress")])
def test_bad_arguments_raise_type_errors_naming_the_parameter(kwargs, match):
    with pytest.raises(TypeError, match=match):
        jlcache.bridge_joblib(**kwargs)
    assert not jlcache.bridge.is_bridged()


def test_this_joblib_has_what_the_bridge_reads():
    """Fails when joblib changes the private attributes the bridge relies on."""
    switch.check_joblib()
    p = joblib.Parallel(n_jobs=3, max_nbytes="2M", mmap_mode="c", temp_folder="/tmp",
                        return_as="generator", batch_size=4, pre_dispatch="3 * n_jobs",
                        timeout=5.0, verbose=0)
    assert (p.n_jobs, p.return_as, p.batch_size, p.pre_dispatch, p.timeout) == \
        (3, "generator", 4, "3 * n_jobs", 5.0)
    assert {k: p._backend_kwargs[k] for k in ("max_nbytes", "mmap_mode", "temp_folder")} == \
        {"max_nbytes": 2 * 1024**2, "mmap_mode": "c", "temp_folder": "/tmp"}
    assert type(p._backend) is joblib.parallel.LokyBackend
    nested, _ = p._backend.get_nested_backend()
    assert type(nested) is joblib.parallel.ThreadingBackend and nested.nesting_level == 1
    with joblib.parallel_config(backend="threading", n_jobs=2):
        q = joblib.Parallel()
    assert type(q._backend) is joblib.parallel.ThreadingBackend and q.n_jobs == 2


def test_a_joblib_without_those_attributes_is_refused_clearly(monkeypatch):
    monkeypatch.delattr(joblib.parallel, "LokyBackend")
    monkeypatch.setitem(switch._state, "checked", False)
    with pytest.raises(RuntimeError, match=r"joblib.parallel.LokyBackend.*leave the bridge off"):
        jlcache.bridge_joblib()
    assert _installed() is JOBLIB_CALL and not jlcache.bridge.is_bridged()


CHILD_IMPORT = """
import sys, time
t0 = time.perf_counter()
import jlcache
elapsed = time.perf_counter() - t0
jlcache.bridge_joblib(False)      # off never imports joblib
with jlcache.bridge_joblib(False):
    pass
print("joblib" in sys.modules, jlcache.bridge.is_bridged(), elapsed < 0.1)
"""


def test_import_jlcache_and_turning_the_bridge_off_never_import_joblib(python):
    assert python(CHILD_IMPORT).stdout.split() == ["False", "False", "True"]


CHILD_NO_JOBLIB = """
import sys
sys.modules["joblib"] = None   # as if joblib were not installed
import jlcache
try:
    jlcache.bridge_joblib()
except ImportError as exc:
    print("ImportError", "pip install" in str(exc), jlcache.bridge.is_bridged())
"""


def test_without_joblib_turning_it_on_says_how_to_install_it(python):
    assert python(CHILD_NO_JOBLIB).stdout.split() == ["ImportError", "True", "False"]


def test_the_supported_joblib_range_is_pinned_and_installed():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from packaging.specifiers import SpecifierSet

    from tests.conftest import REPO

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["joblib"] == [f"joblib{switch.SUPPORTED_JOBLIB}"]
    assert joblib.__version__ in SpecifierSet(switch.SUPPORTED_JOBLIB), \
        "a joblib the bridge is not tested with: check its internals, then widen the range"
