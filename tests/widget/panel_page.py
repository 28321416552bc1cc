"""The panel's front end (``js/panel.js`` + ``panel.css``) in Chromium without Jupyter.

A page that imports the real ES module and renders it against a stand-in for anywidget's
model (``get`` / ``set`` / ``on`` / ``off`` / ``send``). Traits come from the real Python
``PanelState``, so what is drawn is what a kernel would sync; messages the view sends are
recorded in ``window.sent``. The files are served through Playwright's request routing
(ES modules do not load from ``file://``), so no server is involved: a page renders in
well under a second, which keeps layout checks cheap next to the full JupyterLab tests.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "http://jlcache.test"

_INDEX = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/panel.css"></head>
<body style="margin:8px;font-family:sans-serif"><div id="out"></div>
<script type="module">
import widget from "/panel.js";
const listeners = {};
window.sent = [];
window.model = {
  data: {},
  get(k) { return this.data[k]; },
  set(k, v) { this.data[k] = v; for (const f of listeners["change:" + k] || []) f(); },
  on(ev, f) { (listeners[ev] ||= []).push(f); },
  off(ev, f) { listeners[ev] = (listeners[ev] || []).filter((g) => g !== f); },
  send(msg) { window.sent.push(msg); },
};
window.show = (traits) => {
  Object.assign(window.model.data, traits);
  const el = document.getElementById("out");
  el.replaceChildren();
  window.cleanup = widget.render({ model: window.model, el });
};
window.ready = true;
</script></body></html>"""


def _serve(route) -> None:
    name = route.request.url.removeprefix(ORIGIN).lstrip("/") or "index.html"
    if name == "index.html":
        route.fulfill(body=_INDEX, content_type="text/html")
    elif name in ("panel.js", "panel.css"):
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        route.fulfill(body=(REPO / "jlcache" / "widget" / "js" / name).read_text(), content_type=kind)
    else:
        route.fulfill(status=404, body="")


def open_harness(page) -> None:
    """Load the harness page; ``show(page, traits)`` then renders the panel."""
    page.route(f"{ORIGIN}/**", _serve)
    page.goto(f"{ORIGIN}/index.html")
    page.wait_for_function("() => window.ready === true")


def show(page, traits: dict) -> None:
    """Render a fresh panel view with these synced traits (missing ones stay as they were)."""
    page.evaluate("(t) => window.show(t)", json.loads(json.dumps(traits, default=str)))


def update(page, name: str, value) -> None:
    """Change one trait, as a kernel update would."""
    page.evaluate("([k, v]) => window.model.set(k, v)", [name, json.loads(json.dumps(value, default=str))])


def traits(state, stats: dict | None = None, current: dict | None = None, jobs: list | None = None,
           status: dict | None = None) -> dict:
    """The synced traits for a ``PanelState``, exactly as ``Panel._flush`` builds them."""
    current = current or {}
    sections = state.sections(stats or {}, current)
    return {"summary": state.summary(current), "functions": sections["functions"], "cells": sections["cells"],
            "view": state.view.as_dict(), "jobs": jobs or [], "status": status or {}}
