"""The fast distillation zoo (teacher corpora from the real SmolLM2 and Gemma-3 GGUFs, tiny students trained on
them), built once per machine under ``$TAOKE_DATA/distill`` and reused (a few CPU minutes the first time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke.zoo.distill import DistillZoo, build_distill_zoo


@pytest.fixture(scope="session")
def distill_zoo(all_data_dir: Path) -> DistillZoo:
    return build_distill_zoo("fast", data_dir=all_data_dir)


@pytest.fixture(scope="session")
def distill_root(distill_zoo: DistillZoo) -> Path:
    return Path(distill_zoo.root)
