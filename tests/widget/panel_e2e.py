"""Driving a real Jupyter server (JupyterLab 4 and Notebook 7) with headless Chromium (Playwright).

The recipe and its pitfalls are in ``/work/shared/browser-testing/README.md``: loopback
server with a token, ``expose_app_in_browser`` so the page can be asked whether the kernel
is idle, ``?reset`` plus a private workspace dir, news toast off, Debian's Chromium.

Made for speed on a loaded 2-core machine, without fixed sleeps:

- one server serves both front ends (``jupyter lab`` also loads Notebook 7's extension, so
  ``/lab/tree/x`` and ``/notebooks/x`` are the two apps on one process), with the
  language-server and terminal extensions off;
- the server starts in the background while Chromium launches (``Server.start`` /
  ``wait_ready``);
- each notebook's kernel is started through the REST API (``POST /api/sessions``, which
  returns as soon as the process is launched) before the page asks for it, so the kernel
  boots while the front end loads; the page then joins that session;
- a JupyterLab page is loaded once and reused: later notebooks open as new tabs through
  ``docmanager:open`` (the app's own command), and a finished test's notebook is closed
  and its kernel shut down so it costs nothing while the next one runs.
"""

from __future__ import annotations

import contextlib
import json
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
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--disable-renderer-backgrounding", "--disable-background-timer-throttling"]
TOKEN = "jlcache-e2e"
REPO = Path(__file__).resolve().parents[2]
_SERVER_CONFIG = {
    "ServerApp": {"jpserver_extensions": {"jupyter_lsp": False, "jupyter_server_terminals": False},
                  "terminals_enabled": False},
    "LabApp": {"expose_app_in_browser": True},
    "JupyterNotebookApp": {"expose_app_in_browser": True},
}
_READY = """(name) => { const w = window.jupyterapp?.shell.currentWidget;
    return !!(w?.context?.isReady && w.context.path === name
              && w.sessionContext?.session?.kernel?.status === 'idle'); }"""


def require_browser() -> None:
    """Skip without Chromium, except under CI where a missing browser is a failure."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    msg = (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (apt-get install chromium) "
           "or set $CHROMIUM to a Chromium binary.")
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(msg + " (CI is set, so the browser tests may not be skipped.)")
    pytest.skip(msg)


def _env(root: Path, cfg: Path) -> dict[str, str]:
    settings = cfg / "settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    (cfg / "config").mkdir(parents=True, exist_ok=True)
    (cfg / "config" / "jupyter_server_config.json").write_text(json.dumps(_SERVER_CONFIG))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg / "config"), JUPYTER_RUNTIME_DIR=str(cfg / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(cfg / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(cfg / "ws"),
               JLCACHE_DIR=str(root / ".jlcache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


class Server:
    """A Jupyter server on a free loopback port serving JupyterLab and Notebook 7."""

    def __init__(self, root: Path, cfg: Path) -> None:
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = cfg / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True"],
            env=_env(root, cfg), stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90.0) -> Server:
        """Block until the REST API answers (the process was started in ``__init__``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2)
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Jupyter server did not start:\n" + self.log_path.read_text()) from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: the server shuts its kernels down too
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def write(self, name: str, *cells: str) -> None:
        import nbformat

        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}})
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, str(self.root / name))

    def open(self, page, name: str, *cells: str, app: str = "lab", before_run: str | None = None) -> None:
        """Write a notebook of ``cells``, open it, wait for an idle kernel, run all (not awaited).

        In JupyterLab a page that already shows the app opens the notebook as a new tab
        (no reload of the app's ~4 MB of scripts); Notebook 7 is one page per notebook.
        ``before_run`` is JavaScript evaluated just before the cells start (e.g. a recorder).
        """
        self.write(name, *cells)
        self.start_kernel(name)
        if app == "lab" and page.url.startswith(f"{self.url}/lab") and page.evaluate("() => !!window.jupyterapp"):
            page.evaluate("(path) => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", name)
        else:
            path = f"lab/tree/{name}?reset&" if app == "lab" else f"notebooks/{name}?"
            page.goto(f"{self.url}/{path}token={TOKEN}")
        page.wait_for_function(_READY, arg=name)
        if before_run:
            page.evaluate(before_run)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def start_kernel(self, name: str) -> None:
        """Start the kernel of notebook ``name`` now; the page will join this session."""
        body = {"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}}
        request = urllib.request.Request(
            f"{self.url}/api/sessions", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).close()

    @staticmethod
    def close_current(page) -> None:
        """Shut down the current notebook's kernel and close its tab without a save prompt."""
        page.evaluate("""async () => { const w = window.jupyterapp?.shell.currentWidget;
            if (!w?.sessionContext) return;
            try { await w.sessionContext.shutdown(); } finally { w.dispose(); } }""")

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
    """Poll ``predicate`` (cheap, Python-side conditions such as a file being gone)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
