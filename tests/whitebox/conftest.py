from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def zoo(data_dir: Path):  # type: ignore[no-untyped-def]
    """The fast derivation zoo, built from the real bases (cached under $TAOKE_DATA/zoo)."""
    from taoke.zoo.build import build_zoo

    return build_zoo(data_dir / "zoo", subset="fast", data_dir=data_dir)
