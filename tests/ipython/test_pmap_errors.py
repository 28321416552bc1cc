"""``%pmap`` errors: the user's own exceptions stay theirs; only what was typed wrong is a
``UsageError``; tracebacks show the user's frames, not jlcache's."""

from __future__ import annotations

import traceback

import pytest
from IPython.core.error import UsageError

from tests.ipython.conftest import run


@pytest.mark.parametrize(("error", "message"), [
    ("ValueError", "model got n_jobs=0 for item 2"),
    ("ImportError", "Cannot load backend 'TkAgg'"),
    ("ValueError", "batch_size too large for jlcache[gpu]"),
])
def test_a_task_error_mentioning_options_is_not_a_usage_error(ip, error, message):
    run(ip, f"def fit(x):\n    if x == 2:\n        raise {error}({message!r})\n    return x")
    result = ip.run_cell("ys = %pmap -n 2 -b threading --no-progress fit range(4)")
    exc = result.error_in_exec
    assert type(exc).__name__ == error and not isinstance(exc, UsageError)
    assert str(exc) == message
    assert "fit(2)" in "\n".join(getattr(exc, "__notes__", []))


@pytest.mark.parametrize(("line", "words"), [
    ("-n 0 abs [1]", "-n 0"),
    ("-n 99999999999999999999 abs [1]", "-n 99999999999999999999"),
    ("-b no-such-backend abs [1]", "Unknown parallel backend"),
    ("--batch-size 0 abs [1]", "--batch-size"),
    ("--batch-size 99999999999999999999 abs [1]", "--batch-size"),
    ("--batch-size 9223372036854775808 -b threading abs [1]", "--batch-size"),
])
def test_bad_options_are_usage_errors_before_anything_runs(ip, line, words):
    with pytest.raises(UsageError, match=words):
        ip.run_line_magic("pmap", line)


def test_an_unavailable_backend_is_a_usage_error(ip, monkeypatch):
    from jlcache.errors import BackendUnavailableError
    from jlcache.parallel import backends

    def missing(name):
        raise BackendUnavailableError(f"The {name!r} backend needs a package (pip install it).")

    monkeypatch.setattr(backends, "get_factory", missing)
    with pytest.raises(UsageError, match="pip install"):
        ip.run_line_magic("pmap", "-b dask abs [1]")


def test_the_traceback_shows_the_users_frames_not_jlcaches(ip):
    run(ip, "def fragile(v):\n    if v == 3:\n        raise KeyError(v)\n    return v")
    exc = ip.run_cell("ys = %pmap -n 2 -b threading --no-progress fragile range(5)").error_in_exec
    assert isinstance(exc, KeyError)
    frames = traceback.extract_tb(exc.__traceback__)
    assert frames[-1].name == "fragile"
    internal = [f for f in frames if "/jlcache/" in f.filename.replace("\\", "/")]
    assert [f.name for f in internal] == ["pmap"], "only the magic's own frame (hidden by IPython)"


def test_dask_without_a_client_is_a_usage_error_that_says_how_to_start_one(ip, monkeypatch):
    distributed = pytest.importorskip("distributed")
    try:
        distributed.get_client()
    except ValueError:
        pass  # no client in this process: the case the probe hit
    else:  # the cluster tests' session client is current: hide it as "no client" would
        def no_client(*args, **kwargs):
            raise ValueError("No global client found and no address provided")

        monkeypatch.setattr(distributed, "get_client", no_client)
    for line in ("-b dask abs [1, 2]", "-b dask -n 2 abs [1, 2]"):
        with pytest.raises(UsageError, match="Client") as info:
            ip.run_line_magic("pmap", line)
        assert "dask" in str(info.value) and "nothing ran" in str(info.value)


def test_a_backend_that_cannot_start_is_a_usage_error_and_no_task_runs(ip, monkeypatch):
    from jlcache.parallel import backends
    from jlcache.parallel.backends.threads import ThreadingBackend

    class BrokenStart(ThreadingBackend):
        """A pool that cannot start (no GPU, no cluster, no permission...)."""

        name = "broken-start"

        def start(self, n_jobs: int) -> int:
            raise RuntimeError("the accelerator pool is offline")

    monkeypatch.setitem(backends._registered, "broken-start", BrokenStart)
    run(ip, "ran = []\ndef record(x):\n    ran.append(x)\n    return x")
    with pytest.raises(UsageError, match="accelerator pool is offline") as info:
        ip.run_line_magic("pmap", "-b broken-start -n 2 --no-progress record range(3)")
    assert "broken-start" in str(info.value)
    assert ip.user_ns["ran"] == []


def test_an_error_after_the_backend_started_stays_the_users(ip):
    """The setup boundary must not swallow FUNC's errors that happen on the first task."""
    run(ip, "def first_fails(x):\n    raise RuntimeError('model not fitted')")
    exc = ip.run_cell("%pmap -n 1 -b sequential --no-progress first_fails [0]").error_in_exec
    assert type(exc) is RuntimeError and str(exc) == "model not fitted"


@pytest.mark.slow
def test_in_a_notebook_worker_errors_show_the_cell_and_no_jlcache_frames(tmp_path, monkeypatch):
    """Issue 12 item 9: ``<dynamic-code>`` instead of the cell; magics.py and tasks.py frames."""
    import re

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JLCACHE_DIR", str(tmp_path / "cache"))
    runs = ["ys = %pmap -n 2 f range(4)", "ys = %pmap -n 2 -b threading f range(4)",
            "Parallel(n_jobs=2)(delayed(f)(i) for i in range(4))",
            "Parallel(n_jobs=2, prefer='threads')(delayed(f)(i) for i in range(4))"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [
        "%load_ext jlcache\nfrom jlcache import Parallel, delayed",
        "def f(x):\n    y = x + 1\n    if x == 2:\n        raise ValueError('bad ' + str(x))\n"
        "    return y", *runs]]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells[2:]:
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
        assert error.ename == "ValueError", text
        assert "Cell In[2], line 4, in f" in text, (cell.source, text)
        assert "raise ValueError('bad ' + str(x))" in text
        assert "<dynamic-code>" not in text
        for module in ("magics.py", "tasks.py", "dispatch.py", "core.py", "pmap.py"):
            assert module not in text, (cell.source, module, text)
