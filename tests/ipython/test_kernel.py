"""A real kernel (nbclient): the second run of a notebook is served from the cache."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _notebook(counter: str):
    cells = [
        "%load_ext jlcache",
        "import matplotlib\n%matplotlib inline\nimport matplotlib.pyplot as plt\nn = 20",
        "%%memo --verbose\n"
        f"(lambda f: (f.write('x'), f.close()))(open({counter!r}, 'a'))\n"
        "squares = [i * i for i in range(n)]\n"
        "print('sum', sum(squares))\n"
        "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot(squares)\n"
        "len(squares)",
        "from IPython.display import HTML\n%jlcache info",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    return nb


def _outputs(nb, index: int) -> list[tuple]:
    out = []
    for o in nb.cells[index].outputs:
        if o.output_type == "stream":
            out.append((o.name, o.text))
        elif o.output_type in ("display_data", "execute_result"):
            out.append((o.output_type, sorted(o.data)))
    return out


@pytest.mark.slow
def test_second_run_of_a_notebook_is_served_from_cache(tmp_path, monkeypatch):
    counter = tmp_path / "runs.txt"
    counter.write_text("")
    monkeypatch.setenv("JLCACHE_DIR", str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        nb = _notebook(str(counter))
        nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
        runs.append(nb)
    assert counter.read_text() == "x", "the memo cell's body ran once over two kernels"
    first, second = _outputs(runs[0], 2), _outputs(runs[1], 2)
    assert "no cached entry" in first[0][1] and "restored from cache" in second[0][1]
    assert first[1:] == second[1:]  # same text, same figure (image/png), same result, same order
    assert ("display_data", ["image/png", "text/plain"]) in second
    assert second[-1] == ("execute_result", ["text/plain"])
    assert runs[1].cells[2].outputs[-1].data["text/plain"] == "20"
    info = "".join(o.get("text", "") for o in runs[1].cells[3].outputs)
    assert "cell" in info and "1 " in info


@pytest.mark.slow
def test_progress_true_in_a_kernel_shows_the_widget_bar_without_the_extension(tmp_path):
    """The engine finds the notebook bar through its entry point, never by importing it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import sys\n"
        "from jlcache import Parallel, delayed\n"
        "out = Parallel(n_jobs=1, progress=True)(delayed(abs)(-i) for i in range(3))\n"
        "print(out, 'jlcache.ipython' in sys.modules)")]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    kinds = [sorted(o.data) for o in outputs if o.output_type == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "[0, 1, 2] True" in text, "the bar came from jlcache.ipython.progress"
