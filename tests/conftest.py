"""Shared fixtures: the real data set fetched by ``taoke zoo fetch`` (``$TAOKE_DATA``).

Tests never use random matrices as stand-ins for models: they read the real artifacts listed in
``../shared/data/MANIFEST.md``. A test that needs the ``--all`` set is marked ``all_data`` and skipped (with a
reason) when only the core set is present; a missing core set is an error, not a skip, because CI fetches it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from taoke import defaults


def data_root() -> Path:
    return defaults.data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = data_root()
    if not (root / ".complete-core").exists():
        pytest.fail(f"real test data missing in {root}: run `taoke zoo fetch --core` first", pytrace=False)
    return root


@pytest.fixture(scope="session")
def all_data_dir(data_dir: Path) -> Path:
    if not (data_dir / ".complete-all").exists():
        pytest.skip("needs the --all data set (`taoke zoo fetch --all`)")
    return data_dir


@pytest.fixture(scope="session")
def smollm2_gguf(data_dir: Path) -> Path:
    return data_dir / "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def minilm_dir(data_dir: Path) -> Path:
    return data_dir / "weights/all-minilm-l6-v2"


@pytest.fixture(scope="session")
def minilm_onnx(data_dir: Path) -> Path:
    return data_dir / "weights/all-minilm-l6-v2-int8-onnx/model.onnx"


@pytest.fixture(scope="session")
def gemma3_gguf(all_data_dir: Path) -> Path:
    return all_data_dir / "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="session")
def deepseek_head(all_data_dir: Path) -> Path:
    return all_data_dir / "weights/deepseek-r1-distill-qwen-7b-q4_k_m-head/model_part_0000"


@pytest.fixture(scope="session")
def paraphrase_onnx(all_data_dir: Path) -> Path:
    return all_data_dir / "weights/paraphrase-minilm-l3-v2-onnx/paraphrase-MiniLM-L3-v2.onnx"
