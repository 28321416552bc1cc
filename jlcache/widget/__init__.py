"""The jlcache panel: a live anywidget view of the cache and of running jobs.

``view`` is the widget; ``model`` computes what it shows; ``jobs`` follows running jobs;
``clear`` deletes what a row stands for; ``text`` is the plain-text rendering.
"""
from jlcache.widget.view import Panel, panel

__all__ = ["Panel", "panel"]
