"""The extension and the bridge, through a real IPython shell (as tests/ipython does)."""

from __future__ import annotations

import joblib
import joblib.parallel
import pytest
from IPython.core.error import UsageError

import jlcache
from tests.bridge._helpers import jobs_in

JOBLIB_CALL = joblib.parallel.Parallel.__dict__["__call__"]


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """The process's ``InteractiveShell`` without the extension; unloaded again after."""
    from IPython.core.interactiveshell import InteractiveShell

    import jlcache.ipython as ext
    from jlcache.memory import session

    if not InteractiveShell.initialized():
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        InteractiveShell.instance(config=config)
    shell = InteractiveShell.instance()
    monkeypatch.setenv("JLCACHE_DIR", str(tmp_path / "cache"))
    if id(shell) in ext._shells:
        shell.run_line_magic("unload_ext", "jlcache")
    yield shell
    if id(shell) in ext._shells:
        shell.run_line_magic("unload_ext", "jlcache")
    session.reset()


def test_loading_the_extension_turns_the_bridge_on_and_says_how_to_turn_it_off(
        shell, capsys, recorded_events):
    assert not jlcache.bridge.is_bridged()
    shell.run_line_magic("load_ext", "jlcache")
    out = capsys.readouterr().out
    assert "joblib bridge on" in out and "%jlcache bridge off" in out
    assert jlcache.bridge.is_bridged()
    shell.run_cell("from joblib import Parallel, delayed\n"
                   "squares = Parallel(n_jobs=2, prefer='threads')"
                   "(delayed(pow)(i, 2) for i in range(5))")
    assert shell.user_ns["squares"] == [0, 1, 4, 9, 16]
    (job,) = jobs_in(recorded_events).values()
    assert job[0][1]["func"] == "pow" and job[-1][1]["status"] == "done"
    shell.run_line_magic("unload_ext", "jlcache")
    assert not jlcache.bridge.is_bridged()
    assert joblib.parallel.Parallel.__dict__["__call__"] is JOBLIB_CALL


def test_jlcache_bridge_off_and_on_switch_it(shell, capsys):
    shell.run_line_magic("load_ext", "jlcache")
    shell.run_line_magic("jlcache", "bridge off")
    assert not jlcache.bridge.is_bridged()
    assert joblib.parallel.Parallel.__dict__["__call__"] is JOBLIB_CALL
    shell.run_line_magic("jlcache", "bridge")
    assert "joblib bridge: off" in capsys.readouterr().out
    shell.run_line_magic("jlcache", "bridge on")
    assert jlcache.bridge.is_bridged()
    assert "joblib bridge: on" in capsys.readouterr().out


@pytest.mark.parametrize("line", ["bridge maybe", "bridge ON", "bridge on --stale"])
def test_bad_bridge_arguments_are_usage_errors(shell, line):
    shell.run_line_magic("load_ext", "jlcache")
    with pytest.raises(UsageError):
        shell.run_line_magic("jlcache", line)
    assert jlcache.bridge.is_bridged(), "a bad command changes nothing"


def test_unloading_restores_the_state_from_before_the_load(shell):
    with jlcache.bridge_joblib(progress=True):
        shell.run_line_magic("load_ext", "jlcache")
        shell.run_line_magic("jlcache", "bridge off")
        shell.run_line_magic("unload_ext", "jlcache")
        assert jlcache.bridge.is_bridged(), "it was on before the load: it stays on"
        assert jlcache.bridge.switch.progress_setting() is True
    assert not jlcache.bridge.is_bridged()


CHILD_NO_JOBLIB = """
import sys
sys.modules["joblib"] = None   # as if joblib were not installed
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "jlcache")
import jlcache
print("BRIDGED", jlcache.bridge.is_bridged())
"""


def test_without_joblib_the_extension_loads_without_the_bridge_or_a_word_about_it(python, tmp_path):
    proc = python(CHILD_NO_JOBLIB, env={"JLCACHE_DIR": str(tmp_path)}, cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"jlcache: caching in {tmp_path} "), proc.stdout
    assert lines[1] == "BRIDGED False" and "bridge" not in lines[0]
