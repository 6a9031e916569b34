"""CLI tests run the commands on the same real data as the library tests: the fingerprint cache and the fast zoo
of the index tests (BLAS single-threaded, as there)."""

from __future__ import annotations

from tests.index.conftest import blas_one_thread, fps, small_zoo  # noqa: F401 - re-exported fixtures
