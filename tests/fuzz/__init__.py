"""Fuzzing tests; :func:`fuzz_module` imports a module of ``benchmarks/fuzz`` (the harness lives there)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

FUZZ_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz"


def fuzz_module(name: str) -> ModuleType:
    """``benchmarks/fuzz/<name>.py`` as a module (its folder goes on ``sys.path``: the modules import each other)."""
    if str(FUZZ_DIR) not in sys.path:
        sys.path.insert(0, str(FUZZ_DIR))
    return importlib.import_module(name)
