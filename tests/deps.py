"""Optional dependencies of whole test modules: a missing one fails the run loudly, unless it is allowed.

``pytest.importorskip`` at module level turns a broken install into a quietly skipped module (CI stays green
while testing nothing). :func:`require` fails the collection instead; a developer without the optional package
sets ``TAOKE_ALLOW_MISSING=torch`` (comma-separated names, or ``1`` for any) to skip those modules on purpose.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

ALLOW_ENV = "TAOKE_ALLOW_MISSING"


def require(module: str) -> ModuleType:
    """Import ``module`` for a test module; fail loudly when it is missing (skip when ``TAOKE_ALLOW_MISSING`` allows)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        allowed = {x.strip() for x in os.environ.get(ALLOW_ENV, "").split(",") if x.strip()}
        if "1" in allowed or module in allowed:
            pytest.skip(f"{module} is not installed ({ALLOW_ENV} allows it): {e}", allow_module_level=True)
        pytest.fail(f"{module} is required by this test module but cannot be imported ({e}); install the test "
                    f"dependencies (scripts/install.sh) or set {ALLOW_ENV}={module} to skip it on purpose",
                    pytrace=False)
        raise  # unreachable: pytest.fail raises
