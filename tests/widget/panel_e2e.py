"""Driving a real JupyterLab / Notebook 7 server with headless Chromium (Playwright).

The recipe and its pitfalls are in ``/work/shared/browser-testing/README.md``: loopback
server with a token, ``expose_app_in_browser`` so the page can be asked whether the kernel
is idle, ``?reset`` plus a private workspace dir, news toast off, Debian's Chromium.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TOKEN = "jlcache-e2e"
REPO = Path(__file__).resolve().parents[2]


def require_browser() -> None:
    """Skip without Chromium, except under CI where a missing browser is a failure."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    msg = (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (apt-get install chromium) "
           "or set $CHROMIUM to a Chromium binary.")
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(msg + " (CI is set, so the browser tests may not be skipped.)")
    pytest.skip(msg)


class Server:
    """A Jupyter server (``lab`` or ``notebook``) on a free loopback port."""

    def __init__(self, app: str, root: Path, cfg: Path) -> None:
        self.app, self.root = app, root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        news = cfg / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg / "config"), JUPYTER_RUNTIME_DIR=str(cfg / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(cfg / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(cfg / "ws"),
                   JLCACHE_DIR=str(root / ".jlcache"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        module, expose = (("jupyterlab", "--LabApp.expose_app_in_browser=True") if app == "lab"
                          else ("notebook", "--JupyterNotebookApp.expose_app_in_browser=True"))
        self.log_path = cfg / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True", expose],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log_path.read_text()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: the server shuts its kernels down too
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()

    def open(self, page, name: str, *cells: str) -> None:
        """Write a notebook of ``cells``, open it, wait for an idle kernel, run all (not awaited)."""
        import nbformat

        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}})
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, str(self.root / name))
        path = f"lab/tree/{name}?reset&" if self.app == "lab" else f"notebooks/{name}?"
        page.goto(f"{self.url}/{path}token={TOKEN}")
        page.wait_for_function("""() => { const w = window.jupyterapp?.shell.currentWidget;
            return !!(w?.context?.isReady && w.sessionContext?.session?.kernel?.status === 'idle'); }""")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    @staticmethod
    def kernel_busy(page) -> bool:
        return page.evaluate("""() => window.jupyterapp.shell.currentWidget
            .sessionContext.session.kernel.status !== 'idle'""")


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_until(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
