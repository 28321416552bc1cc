"""The joblib bridge: every ``joblib.Parallel`` call (scikit-learn's ``n_jobs`` included)
runs as a jlcache job while it is on.

Engine-side: nothing here imports IPython or widgets, and nothing imports joblib until the
bridge is turned on. ``switch`` turns it on and off; ``call`` is what ``joblib.Parallel``
runs while bridged; ``tasks`` is the small part that travels to the workers; ``observe``
reports the calls that stay on joblib's own driver (dask, ray, third-party backends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jlcache._lazy import lazy_attributes

_LAZY = {
    "bridge_joblib": "jlcache.bridge.switch",
    "is_bridged": "jlcache.bridge.switch",
}

__all__ = ["bridge_joblib", "is_bridged"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from jlcache.bridge.switch import bridge_joblib, is_bridged

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals(), __all__)
