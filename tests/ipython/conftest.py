"""A real ``InteractiveShell`` with the extension loaded, reset between tests.

``InteractiveShell.instance()`` is a process-wide singleton, so the fixture resets its
namespace and the extension's state around every test instead of making new shells.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


class OutputLog:
    """Records stdout text and rich displays in the order the front end would see them."""

    def __init__(self) -> None:
        self.items: list[tuple] = []

    def write(self, text: str) -> int:
        if text:
            if self.items and self.items[-1][0] == "stdout":
                self.items[-1] = ("stdout", self.items[-1][1] + text)
            else:
                self.items.append(("stdout", text))
        return len(text)

    def flush(self) -> None:
        pass

    def publish(self, data, metadata=None, *args, **kwargs) -> None:
        self.items.append(("display", data))

    def run(self, shell, source: str):
        """Run a cell with stdout routed here (pytest re-captures ``sys.stdout`` between
        fixture setup and the test, so the swap must happen around the call itself)."""
        saved = sys.stdout
        sys.stdout = self
        try:
            return run(shell, source)
        finally:
            sys.stdout = saved

    @property
    def text(self) -> str:
        return "".join(i[1] for i in self.items if i[0] == "stdout")

    def clear(self) -> None:
        self.items.clear()


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from IPython.core.interactiveshell import InteractiveShell

    from jlcache import stats
    from jlcache.memory import session
    if not InteractiveShell.initialized():
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"  # never write the user's history file
        InteractiveShell.instance(config=config)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    monkeypatch.setenv("JLCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    stats.reset()
    shell.run_line_magic("load_ext", "jlcache")
    yield shell
    shell.run_line_magic("unload_ext", "jlcache")
    session.reset()
    shell.reset(new_session=True)


@pytest.fixture
def log(ip, monkeypatch: pytest.MonkeyPatch) -> OutputLog:
    """Route the shell's stdout and displays into one ordered log."""
    out = OutputLog()
    monkeypatch.setattr(ip.display_pub, "publish", out.publish)
    return out


def run(shell, source: str):
    """Run a cell and fail the test with the cell's own error if it raised."""
    result = shell.run_cell(source, store_history=True)
    if result.error_before_exec is not None:
        raise result.error_before_exec
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result


@pytest.fixture
def counter(tmp_path: Path):
    """A file a cell appends to: its length is how many times the cell body really ran."""
    path = tmp_path / "runs.txt"
    path.write_text("")

    class Counter:
        line = f"(lambda f: (f.write('x'), f.close()))(open({str(path)!r}, 'a'))"

        @property
        def value(self) -> int:
            return len(path.read_text())

    return Counter()
