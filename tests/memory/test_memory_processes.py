"""The cache across real processes: new interpreters, concurrent writers, IPython cells.

Each cached function here counts its computations by appending to a log file whose path is
a module-level string (a stable global, so it does not change the function's identity).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

WORK_MODULE = textwrap.dedent('''
    import os
    from jlcache import Memory

    memory = Memory(os.environ["JLC_CACHE"])
    LOG = os.environ["JLC_LOG"]

    def helper(x):
        return {"x": x, "set": {3, 1, 2}, "text": "é" * 3}

    @memory.cache
    def work(x, opts={"b": 2, "a": 1}, tags=frozenset({"p", "q", "r"})):
        with open(LOG, "a") as fh:
            fh.write("x")
        return helper(x), sorted(opts.items()), sorted(tags)
''')


@pytest.fixture
def workdir(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "workmod.py").write_text(WORK_MODULE)
    return {"JLC_CACHE": str(tmp_path / "cache"), "JLC_LOG": str(tmp_path / "log"),
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}


def computations(env: dict[str, str]) -> int:
    path = Path(env["JLC_LOG"])
    return len(path.read_text()) if path.exists() else 0


def test_a_new_interpreter_with_another_hash_seed_hits(python, workdir):
    code = "import workmod; print(workmod.work(3)); print(workmod.work.cache_key(3).key)"
    first = python(code, env={**workdir, "PYTHONHASHSEED": "1"})
    second = python(code, env={**workdir, "PYTHONHASHSEED": "4242"})
    assert first.stdout == second.stdout
    assert "'x': 3" in first.stdout
    assert computations(workdir) == 1


def test_four_processes_storing_the_same_key_at_once(workdir):
    code = textwrap.dedent("""
        import sys, time
        start = float(sys.argv[1])
        import workmod
        time.sleep(max(0.0, start - time.time()))
        out = workmod.work(11)
        assert out[0]["x"] == 11, out
        print("ok")
    """)
    start = time.time() + 2.0  # every child imports first, then all store together
    env = {**os.environ, **workdir}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(start)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok" and "Warning" not in err
    assert 1 <= computations(workdir) <= 4  # across processes each may compute (documented)
    files = sorted(p.name for p in Path(workdir["JLC_CACHE"]).rglob("*") if p.is_file())
    leftovers = [f for f in files if not (f.endswith(".jlc") or f in {"_info.json", "FORMAT", ".gitignore"})]
    assert leftovers == [] and sum(f.endswith(".jlc") for f in files) == 1


IPYTHON_CHILD = textwrap.dedent('''
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.update(CACHE=sys.argv[1], LOG=sys.argv[2])
    cell = """
    from jlcache import Memory
    memory = Memory(CACHE)

    @memory.cache
    def triple(x):
        # counts computations
        with open(LOG, "a") as fh:
            fh.write("x")
        return [x] * 3

    result = triple(14)
    key = triple.cache_key(14)
    """
    for _ in range(2):  # re-running the same cell in one shell hits too
        shell.run_cell(cell).raise_error()
    print(json.dumps({"result": shell.user_ns["result"], "version": shell.user_ns["key"].version}))
''')


def test_function_defined_in_an_ipython_cell_hits_in_a_new_shell_process(python, tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "log"
    code = f"import sys; sys.argv[1:] = [{str(cache)!r}, {str(log)!r}]\n" + IPYTHON_CHILD
    first = python(code, env={"PYTHONHASHSEED": "7"})
    second = python(code, env={"PYTHONHASHSEED": "8"})
    assert first.stdout == second.stdout
    assert '"result": [14, 14, 14]' in first.stdout
    assert log.read_text() == "x"


def test_importing_memory_loads_neither_numpy_nor_ipython(python):
    child = python("""
        import sys
        import jlcache.memory.memory
        import jlcache.stats
        jlcache.Memory(None).cache(len)("abc")
        print(sorted(m for m in ("numpy", "IPython", "pandas", "ipywidgets") if m in sys.modules))
    """)
    assert child.stdout.strip() == "[]"


def test_pickled_cached_function_and_result_resolve_the_same_entry_elsewhere(python, tmp_path):
    # What a worker receives: a MemorizedFunc of a __main__ function (pickled by value by
    # cloudpickle) and a MemorizedResult; another interpreter with another hash seed.
    cache, blob = tmp_path / "cache", tmp_path / "blob.pkl"
    python(f"""
        import cloudpickle
        from jlcache import Memory

        SCALE = 3

        def scaled(x, offset=1):
            return [x * SCALE + offset]

        f = Memory({str(cache)!r}).cache(scaled)
        assert f(7) == [22]
        with open({str(blob)!r}, "wb") as fh:
            cloudpickle.dump((f, f.call_and_shelve(8)), fh)
    """, env={"PYTHONHASHSEED": "11"})
    child = python(f"""
        import pickle
        with open({str(blob)!r}, "rb") as fh:
            f, shelved = pickle.load(fh)
        print(f.check_call_in_cache(7), f.check_call_in_cache(x=7, offset=1), shelved.get())
    """, env={"PYTHONHASHSEED": "12"})
    assert child.stdout.split() == ["True", "True", "[25]"]
