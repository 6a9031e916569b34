"""Fixtures for tokenizer tests: paths of the real fetched tokenizers, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.tokenizers import Vocab, load
from taoke.tokenizers._families import ARTIFACTS_BY_KEY


@pytest.fixture(scope="session")
def vocab(data_dir: Path):
    """``vocab(key)`` loads a fetched artifact by its database key (skips when it needs the --all set)."""

    def get(key: str) -> Vocab:
        art = ARTIFACTS_BY_KEY[key]
        if art.all_only and not (data_dir / ".complete-all").exists():
            pytest.skip("needs the --all data set (`taoke zoo fetch --all`)")
        return load(data_dir / art.path, name=key)

    return get

