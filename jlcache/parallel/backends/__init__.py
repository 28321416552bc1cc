"""Backend registry: names -> factories, imported lazily.

Built-in backends are resolved by module path, so ``import jlcache.parallel`` imports none
of them (nor loky). ``dask`` and ``ray`` live in ``backends/dask.py`` / ``backends/ray.py``
(each defines ``DaskBackend`` / ``RayBackend``); asking for them without the optional
dependency raises ``BackendUnavailableError`` naming the extra to install.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from jlcache.errors import BackendUnavailableError
from jlcache.parallel.backends.base import ParallelBackendBase

__all__ = ["ParallelBackendBase", "check_known", "default_backend_name", "get_backend",
           "register_parallel_backend"]

_BUILTIN = {
    "sequential": ("jlcache.parallel.backends.sequential", "SequentialBackend"),
    "threading": ("jlcache.parallel.backends.threads", "ThreadingBackend"),
    "multiprocessing": ("jlcache.parallel.backends.mp", "MultiprocessingBackend"),
    "loky": ("jlcache.parallel.backends.loky", "LokyBackend"),
}
# name -> (module, class, extra, the packages the extra provides)
_EXTERNAL = {
    "dask": ("jlcache.parallel.backends.dask", "DaskBackend", "dask", ("dask", "distributed")),
    "ray": ("jlcache.parallel.backends.ray", "RayBackend", "ray", ("ray",)),
}

_lock = threading.Lock()
_registered: dict[str, Callable[..., ParallelBackendBase]] = {}
_default = ["loky"]


def register_parallel_backend(name: str, factory: Callable[..., ParallelBackendBase],
                              make_default: bool = False) -> None:
    """Make ``factory`` (usually a ``ParallelBackendBase`` subclass) available as ``name``."""
    if not callable(factory):
        raise TypeError(f"register_parallel_backend({name!r}, ...) needs a callable factory "
                        f"(a ParallelBackendBase subclass), got {type(factory).__name__}.")
    with _lock:
        _registered[name] = factory
        if make_default:
            _default[0] = name


def default_backend_name() -> str:
    return _default[0]


def known_names() -> list[str]:
    return sorted({*_BUILTIN, *_EXTERNAL, *_registered})


def check_known(name: str) -> None:
    if name not in _registered and name not in _BUILTIN and name not in _EXTERNAL:
        raise ValueError(f"Unknown parallel backend {name!r}; known backends: "
                         f"{', '.join(known_names())}. Third-party backends must be registered "
                         "first with register_parallel_backend(name, BackendClass).")


def _load_external(name: str) -> Callable[..., ParallelBackendBase]:
    module, cls, extra, packages = _EXTERNAL[name]
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise BackendUnavailableError(
                f"The {name!r} backend needs the {package!r} package, which is not installed "
                f"({exc}). Install it with `pip install jlcache[{extra}]`.") from exc
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise BackendUnavailableError(
            f"The {name!r} backend is not available in this version of jlcache "
            f"({module} is missing).") from exc
    return getattr(mod, cls)


def get_factory(name: str) -> Callable[..., ParallelBackendBase]:
    factory = _registered.get(name)
    if factory is not None:
        return factory
    if name in _BUILTIN:
        module, cls = _BUILTIN[name]
        return getattr(importlib.import_module(module), cls)
    if name in _EXTERNAL:
        return _load_external(name)
    check_known(name)
    raise AssertionError("unreachable")  # pragma: no cover


def get_backend(spec: Any, **kwargs: Any) -> ParallelBackendBase:
    """A backend instance from a name or an instance (instances are used as they are)."""
    if isinstance(spec, ParallelBackendBase):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"backend must be a name (e.g. 'loky'), a ParallelBackendBase instance "
                        f"or a multiprocessing context, got {type(spec).__name__}.")
    return get_factory(spec)(**kwargs)
