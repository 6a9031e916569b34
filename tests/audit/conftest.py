from __future__ import annotations

from pathlib import Path

import pytest

from tests.index.conftest import blas_one_thread, fps, small_zoo  # noqa: F401 - the index tests' real fingerprints


@pytest.fixture(scope="session")
def zoo_entry(data_dir: Path) -> Path:
    """A SmolLM2 derivative from the fast zoo (real weights + Gaussian noise, see taoke.zoo)."""
    from taoke.zoo.build import build_zoo

    return Path(build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir, only=("smollm2-noise-0.1",))
                .path_of("smollm2-noise-0.1"))
