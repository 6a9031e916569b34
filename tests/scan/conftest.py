"""Scan tests share the index tests' BLAS setting (single-threaded: measured 10× faster on a busy 2-core box)."""

from __future__ import annotations

from tests.index.conftest import blas_one_thread, small_zoo  # noqa: F401 - re-exported fixtures
