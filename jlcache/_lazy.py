"""Module attributes resolved on first use, so importing a package stays cheap.

A package lists ``{public name: defining module}``; ``lazy_attributes`` returns the
``__getattr__`` and ``__dir__`` that import the defining module only when a name is first
asked for, then cache it in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, table: dict[str, str], namespace: dict[str, Any],
                    public: list[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; a name that is its own submodule maps to it."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = importlib.import_module(module)
        value = mod if module == f"{package}.{name}" else getattr(mod, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
