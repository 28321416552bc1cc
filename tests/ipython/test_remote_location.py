"""The front ends on a cache in object storage (issue 16): ``%%memo``, ``%pmap --memo``,
``%jlcache info`` and the panel go through the ``Store`` interface only, so a URL location
works for them as a directory does. fsspec's ``memory://`` stands in for a bucket here (the
same ``ObjectStore``; S3 itself is tested in tests/store/test_object_s3.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.ipython.conftest import run


def _remote(ip) -> str:
    from jlcache.ipython import set_location

    url = f"memory://jlcache-ipython/{uuid.uuid4().hex}"
    memory = set_location(url)
    assert memory.store is not None and memory.store.url.endswith(url.split("://")[1])
    ip.user_ns["memory"] = memory
    return url


def test_memo_pmap_info_and_panel_on_a_url(ip, counter, capsys, tmp_path: Path) -> None:
    url = _remote(ip)
    cell = f"%%memo --name remote_cell\n{counter.line}\ntotal = 40 + 2"
    run(ip, cell)
    run(ip, cell)
    assert counter.value == 1 and ip.user_ns["total"] == 42  # the second run was a hit

    log = tmp_path / "pmap.txt"
    run(ip, f"def step(v):\n    open({str(log)!r}, 'a').write('x')\n    return v * 10")
    run(ip, "ys = %pmap -b sequential --memo --no-progress step range(4)")
    run(ip, "ys = %pmap -b sequential --memo --no-progress step range(4)")
    assert ip.user_ns["ys"] == [0, 10, 20, 30] and log.read_text() == "x" * 4

    ip.run_line_magic("jlcache", "info")
    out = capsys.readouterr().out
    assert url.split("://")[1] in out and "remote_cell" in out and "step" in out

    from jlcache.widget.clear import clear_target
    from jlcache.widget.ids import row_id
    from jlcache.widget.model import scan

    store = ip.user_ns["memory"].store
    found = scan(store)
    assert found.location == store.url and "://" in found.location
    cleared = clear_target(store, row_id("cells", "remote_cell"), {})
    assert cleared.entries == 1 and store.entries("cells") == []
    run(ip, cell)
    assert counter.value == 2  # cleared from the bucket: computed again
