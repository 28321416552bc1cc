"""The panel's comm messages: raw ``content`` from the browser becomes a typed message, and
anything else is a clear error (never a half-handled click)."""

from __future__ import annotations

import pytest

from jlcache.widget.messages import parse


@pytest.mark.parametrize(("content", "expected"), [
    ({"type": "clear", "id": "functions/m.f"}, {"type": "clear", "id": "functions/m.f"}),
    ({"type": "cancel", "id": "jobs/job-3"}, {"type": "cancel", "id": "jobs/job-3"}),
    ({"type": "expand", "id": "functions/m.f", "open": 1}, {"type": "expand", "id": "functions/m.f", "open": True}),
    ({"type": "page", "id": "cells", "page": "2"}, {"type": "page", "id": "cells", "page": 2}),
    ({"type": "page", "id": "cells", "page": -4}, {"type": "page", "id": "cells", "page": 0}),
    ({"type": "sort", "key": "size"}, {"type": "sort", "key": "size", "desc": True}),
    ({"type": "refresh", "extra": 1}, {"type": "refresh"}),
])
def test_known_messages_are_normalised(content, expected) -> None:
    assert parse(content) == expected


@pytest.mark.parametrize("content", [
    {"type": "explode"}, {}, {"type": "page", "id": "cells", "page": "two"}, ["clear"],
])
def test_other_content_is_a_value_error_that_says_why(content) -> None:
    with pytest.raises(ValueError, match=r"panel message|page"):
        parse(content)
