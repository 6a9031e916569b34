"""The error tree drawn in ``taoke.errors`` is the one the code defines: every public error class is in it."""

from __future__ import annotations

import importlib
import pkgutil

import taoke
from taoke import errors
from taoke.errors import TaokeError


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_public_error_is_drawn_in_the_tree() -> None:
    for m in pkgutil.walk_packages(taoke.__path__, "taoke."):
        if m.name.startswith(("taoke.cli", "taoke.__main__")) or ".distill" in m.name:
            continue  # commands and optional heavy modules define no errors
        try:
            importlib.import_module(m.name)
        except ImportError:  # an optional dependency (torch, llama-cpp) that this install lacks
            continue
    doc = errors.__doc__ or ""
    public = {c for c in _all_subclasses(TaokeError) if c.__module__.startswith("taoke") and not c.__name__.startswith("_")}
    missing = sorted(c.__name__ for c in public if f"── {c.__name__}" not in doc)
    assert not missing, f"error classes missing from the tree in taoke/errors.py: {missing}"
    for c in public:
        assert c.exit_code in (1, 2, 3, 4, 5, 6, 7)
