"""The guide's code examples run, so that they stay true.

Every ```` ```python ```` block of a page of ``docs/`` (and of README.md) is executed, in
order, in one fresh namespace per page and a temporary working directory, as a reader
pasting them into a fresh notebook would. Examples that cannot run on their own (they need
a cluster, object storage or a notebook) are fenced ```` ```py ```` or ```` ```ipython ````
on purpose: Material shows them the same, and this runner skips them.
"""

from __future__ import annotations

import linecache
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<info>[^`\n]*)$")


@dataclass
class Block:
    """One fenced code block: its language, source and first line in the page (1-based)."""

    lang: str
    source: str
    line: int


def code_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, indented ones (in lists) included."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks = len(m["indent"]), m["ticks"]
        lang = m["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i][indent:])
            i += 1
        blocks.append(Block(lang, "\n".join(body) + "\n", i - len(body) + 1))
        i += 1
    return blocks


def run_page(page: str, text: str) -> int:
    """Execute the page's python blocks in order in one namespace; the number run."""
    namespace: dict = {"__name__": "__main__"}
    blocks = [b for b in code_blocks(text) if b.lang == "python"]
    for block in blocks:
        # a file name with the source in linecache: inspect.getsource (and so jlcache's
        # function identity) works on the functions an example defines
        filename = f"<{page}:{block.line}>"
        linecache.cache[filename] = (len(block.source), None,
                                     block.source.splitlines(True), filename)
        try:
            exec(compile(block.source, filename, "exec"), namespace)
        except Exception:
            pytest.fail(f"the example at {page}:{block.line} failed:\n"
                        f"{block.source}\n{traceback.format_exc()}", pytrace=False)
    return len(blocks)


def test_the_block_parser_finds_fences_languages_and_lines():
    text = "x\n```python\na = 1\n```\n\n- item\n\n    ```py\n    b = 2\n    ```\n````ipython\n%x\n````\n"
    got = [(b.lang, b.source, b.line) for b in code_blocks(text)]
    assert got == [("python", "a = 1\n", 3), ("py", "b = 2\n", 9), ("ipython", "%x\n", 12)]


def test_a_failing_example_fails_naming_page_and_line():
    text = "ok\n\n```python\nx = 1\n```\n\n```py\nnot run(\n```\n```python\nx / 0\n```\n"
    with pytest.raises(pytest.fail.Exception, match=r"docs/broken.md:11 failed"):
        run_page("docs/broken.md", text)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_page(str(page.relative_to(REPO)), page.read_text())
