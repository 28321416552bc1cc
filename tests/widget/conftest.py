"""Fixtures for the panel tests, and a stand-in for a ``jlcache.store.Store`` holding entries in memory (the part of
the interface the panel uses; contract in jlcache/store/base.py), so the panel's logic is tested without the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlcache.store import EntryInfo, EntryRef
from jlcache.store.layout import tally_of

# The real value types: only the store behind them is faked.


class FakeStore:
    def __init__(self, location: str = "/tmp/fake-cache") -> None:
        self.location = Path(location)
        self.entries_by_ref: dict[EntryRef, EntryInfo] = {}
        self.info: dict[tuple[str, str, str], dict] = {}
        self.calls: list[tuple] = []

    @property
    def url(self) -> str:
        return str(self.location)

    def add(self, kind: str, group: str, version: str, key: str, size: int = 100, *,
            created: float = 1000.0, last_access: float | None = None, duration: float = 0.5,
            args: str = "", disk: int = 0) -> EntryRef:
        ref = EntryRef(kind, group, version, key)
        self.entries_by_ref[ref] = EntryInfo(ref, self.location / kind / group / version / key, size,
                                             created, last_access or created, duration, args or key, disk=disk)
        self.info.setdefault((kind, group, version), {"module": "__main__", "qualname": group.split(".")[-1],
                                                      "first_line": f"def {group}(x):", "created": created})
        return ref

    def read_info(self, kind: str, group: str, version: str) -> dict:
        return self.info.get((kind, group, version), {})

    def groups(self, kind: str) -> list[str]:
        return sorted({r.group for r in self.entries_by_ref if r.kind == kind})

    def versions(self, kind: str, group: str) -> list[str]:
        return sorted({r.version for r in self.entries_by_ref if r.kind == kind and r.group == group})

    def entries(self, kind: str, group: str | None = None, version: str | None = None) -> list[EntryInfo]:
        return [i for r, i in self.entries_by_ref.items() if r.kind == kind
                and group in (None, r.group) and version in (None, r.version)]

    def tally(self, kind: str) -> dict:
        return tally_of(self.entries(kind))

    def delete(self, ref: EntryRef) -> None:
        self.calls.append(("delete", ref))
        del self.entries_by_ref[ref]

    def delete_version(self, kind: str, group: str, version: str) -> None:
        self.calls.append(("delete_version", kind, group, version))
        for ref in [r for r in self.entries_by_ref if r[:3] == (kind, group, version)]:
            del self.entries_by_ref[ref]

    def delete_group(self, kind: str, group: str) -> None:
        self.calls.append(("delete_group", kind, group))
        for ref in [r for r in self.entries_by_ref if r[:2] == (kind, group)]:
            del self.entries_by_ref[ref]

    def clear(self) -> None:
        self.calls.append(("clear",))
        self.entries_by_ref.clear()


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def build_state():
    """``build(store, stats, current, **view) -> (state, sections, summary)`` for one scan."""
    from jlcache.widget.model import PanelState, scan

    def build(store, stats=None, current=None, **view):
        state = PanelState()
        state.scan = scan(store)
        for k, v in view.items():
            setattr(state.view, k, v)
        current = current or {}
        return state, state.sections(stats or {}, current), state.summary(current)

    return build
