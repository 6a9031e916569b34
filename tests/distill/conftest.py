"""The fast distillation zoo (teacher corpora from the real SmolLM2 and Gemma-3 GGUFs, tiny students trained on
them), built once per machine under ``$TAOKE_DATA/distill`` and reused (roughly 10-15 minutes on 2 cores the first time:
2 x 100 teacher answers through llama.cpp and 17 students at ~30 s each; the tests then take ~4 minutes)."""

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
