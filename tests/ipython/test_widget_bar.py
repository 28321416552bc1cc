"""The notebook progress bar: each update costs the job's dispatch loop as few messages as
possible (it is sent from that loop)."""

from __future__ import annotations


def test_an_update_sends_the_bar_in_one_message():
    from jlcache.ipython.progress import WidgetBar

    bar = WidgetBar("Parallel(f)")
    sent = []
    real = bar.bar._send
    bar.bar._send = lambda msg, buffers=None: sent.append(msg) or real(msg, buffers)
    bar.update(10, 100, 0)
    assert [m["state"] for m in sent] == [{"value": 10, "max": 100}]
    bar.close("done", 100, 100, 0)
    assert bar.bar.value == 100 and bar.bar.bar_style == "success"
