"""Progress displays: text outside a notebook, the front end's bar inside one."""

from __future__ import annotations

import io
from importlib import metadata

from jlcache.parallel import progress


def test_the_notebook_bar_is_offered_through_the_entry_point_group() -> None:
    entries = {e.name: e.value for e in metadata.entry_points(group=progress.ENTRY_POINT_GROUP)}
    assert entries.get("notebook") == "jlcache.ipython.progress:WidgetBar"


def test_outside_a_kernel_progress_is_a_text_bar(monkeypatch) -> None:
    reporters = progress.make_reporters(True, 0, "job")
    assert [type(r) for r in reporters] == [progress.TextBar]


def test_a_broken_front_end_falls_back_to_text(monkeypatch) -> None:
    class Broken:
        def load(self):
            raise ImportError("no widgets here")

    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(progress, "_notebook_factories", lambda: (Broken(),))
    reporters = progress.make_reporters(True, 0, "job")
    assert [type(r) for r in reporters] == [progress.TextBar]


def test_text_bar_draws_progress_and_status() -> None:
    out = io.StringIO()
    bar = progress.TextBar("job", stream=out)
    bar.update(5, 10, 0)
    bar.close("done", 10, 10, 0)
    text = out.getvalue()
    assert "5/10" in text and "10/10" in text and text.endswith(" done\n")
