"""The panel's comm messages, typed: what the browser sends (``model.send`` in
``js/panel.js``) and the status the kernel sends back.

One place names every message shape, so the Python handler and the ES module cannot drift
apart silently: ``parse`` turns raw ``content`` into one of these or raises a ``ValueError``
naming what is wrong (a panel from another jlcache version, or a hand-made message).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = ["Cancel", "Clear", "Expand", "Message", "Page", "Refresh", "Sort", "Status", "parse"]


class Clear(TypedDict):
    """Delete what a row stands for (a function, version, entry or cell), or "stale"/"all"."""
    type: Literal["clear"]
    id: str


class Cancel(TypedDict):
    """Cancel the background job of row ``jobs/<id>``."""
    type: Literal["cancel"]
    id: str


class Expand(TypedDict):
    """Open or close a row's children."""
    type: Literal["expand"]
    id: str
    open: bool


class Page(TypedDict):
    """Show page ``page`` of a row's children (or of the functions/cells section)."""
    type: Literal["page"]
    id: str
    page: int


class Sort(TypedDict):
    """Order rows by ``key`` ("last_used", "size" or "name")."""
    type: Literal["sort"]
    key: str
    desc: bool


class Refresh(TypedDict):
    """Re-read the store."""
    type: Literal["refresh"]


Message = Clear | Cancel | Expand | Page | Sort | Refresh


class Status(TypedDict):
    """The status line (the ``status`` trait): ``seq`` changes on every update, so the
    browser shows a repeated message again."""
    text: str
    error: bool
    seq: int


def parse(content: Any) -> Message:
    """``content`` as a typed message, or ``ValueError`` saying what is wrong with it."""
    if not isinstance(content, dict):
        raise ValueError(f"a panel message is a dict, not {type(content).__name__}")
    kind = content.get("type")
    if kind == "refresh":
        return Refresh(type="refresh")
    if kind in ("clear", "cancel"):
        return Clear(type="clear", id=str(content.get("id"))) if kind == "clear" else \
            Cancel(type="cancel", id=str(content.get("id")))
    if kind == "expand":
        return Expand(type="expand", id=str(content.get("id")), open=bool(content.get("open")))
    if kind == "page":
        try:
            page = max(0, int(content.get("page") or 0))
        except (TypeError, ValueError):
            raise ValueError(f"a page message needs an integer page, got {content!r}") from None
        return Page(type="page", id=str(content.get("id")), page=page)
    if kind == "sort":
        return Sort(type="sort", key=str(content.get("key")), desc=bool(content.get("desc", True)))
    raise ValueError(f"unknown panel message {content!r}: the panel's front end and kernel may "
                     "come from different jlcache versions; re-run the cell that shows it.")
