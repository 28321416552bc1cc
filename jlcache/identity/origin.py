"""Where a function, class or module comes from: the user's own code, or an installed package.

The user's code (``__main__``, notebook cells, exec'd strings, and modules that are not
installed: not under site-packages / dist-packages nor the standard library) is identified
by its content. Installed code is identified by name and package version only: hashing the
source of numpy on every call would be slow and pointless, and upgrading the package is
what changes it.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import types
from typing import Any

__all__ = ["external_token", "is_installed_path", "is_user_class", "is_user_function",
           "is_user_module", "is_user_module_name", "package_version"]

_PATH_CACHE: dict[str, bool] = {}
_ORIGIN_CACHE: dict[tuple[str, str], bool] = {}
_VERSIONS: dict[str, str] = {}


def _installed_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        prefixes.update(site.getsitepackages())
        prefixes.add(site.getusersitepackages())
    except AttributeError:  # pragma: no cover - some embedded interpreters lack these
        pass
    return tuple(os.path.normpath(p) + os.sep for p in prefixes if p)


_PREFIXES = _installed_prefixes()


def is_installed_path(path: str) -> bool:
    """True for files of installed packages and of the standard library."""
    known = _PATH_CACHE.get(path)
    if known is None:
        norm = os.path.normpath(os.path.abspath(path))
        parts = norm.split(os.sep)
        known = ("site-packages" in parts or "dist-packages" in parts
                 or norm.startswith(_PREFIXES))
        _PATH_CACHE[path] = known
    return known


def _is_jlcache(module: str | None) -> bool:
    """jlcache is a library, not the user's code, even when installed in editable mode."""
    return module is not None and (module == "jlcache" or module.startswith("jlcache."))


def is_user_module_name(module: str | None) -> bool:
    """True for ``__main__``, exec'd namespaces and modules that are not installed."""
    return _module_is_user(module)


def _module_is_user(module: str | None) -> bool:
    if module is None or module == "__main__":
        return True
    if _is_jlcache(module):
        return False
    mod = sys.modules.get(module)
    if mod is None:                  # exec'd into a namespace that is not an imported module
        return True
    file = getattr(mod, "__file__", None)
    return isinstance(file, str) and not is_installed_path(file)


def is_user_function(func: types.FunctionType) -> bool:
    """Defined in ``__main__``, a cell, an exec'd string, or a module that is not installed."""
    module, filename = func.__module__, func.__code__.co_filename
    key = (module or "", filename)
    known = _ORIGIN_CACHE.get(key)
    if known is None:
        if _is_jlcache(module):
            known = False
        elif module == "__main__" or not filename or filename.startswith("<"):
            known = _module_is_user(module)
        else:
            known = not is_installed_path(filename)
        _ORIGIN_CACHE[key] = known
    return known


def is_user_class(cls: type) -> bool:
    key = (cls.__module__ or "", "<class>")
    known = _ORIGIN_CACHE.get(key)
    if known is None:
        known = _ORIGIN_CACHE[key] = _module_is_user(cls.__module__)
    return known


def is_user_module(mod: types.ModuleType) -> bool:
    if _is_jlcache(mod.__name__):
        return False
    file = getattr(mod, "__file__", None)
    return isinstance(file, str) and not is_installed_path(file)


def package_version(module: str) -> str:
    """The version of the distribution that provides ``module`` ("py3.11" for the stdlib)."""
    top = module.partition(".")[0]
    version = _VERSIONS.get(top)
    if version is None:
        version = _lookup_version(top)
        _VERSIONS[top] = version
    return version


def _lookup_version(top: str) -> str:
    if top in sys.stdlib_module_names or top in ("builtins", "__future__"):
        return f"py{sys.version_info[0]}.{sys.version_info[1]}"
    found = getattr(sys.modules.get(top), "__version__", None)
    if isinstance(found, str):
        return found
    try:
        from importlib import metadata

        return metadata.version(top)
    except Exception:  # no distribution metadata: the name alone must do
        return ""


_TOKENS: dict[int, tuple[Any, str]] = {}   # id -> (obj kept alive, token)


def external_token(obj: Any) -> str:
    """``module:qualname:version`` for builtins, ufuncs and installed functions/classes."""
    hit = _TOKENS.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    token = _external_token(obj)
    if len(_TOKENS) >= 4096:   # bound the memory held by short-lived callables
        _TOKENS.clear()
    _TOKENS[id(obj)] = (obj, token)
    return token


def _external_token(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = type(obj).__module__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        name = type(obj).__qualname__
    return "ext:" + module + ":" + name + ":" + package_version(module)
