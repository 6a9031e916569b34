"""The MMD permutation test on real text: calibrated under exchangeable splits, powerful across sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taoke.blackbox.embed import embed
from taoke.blackbox.same_model import mmd_permutation_test


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text("utf-8").split("\n__ggml_vocab_test__\n") if ln.strip()]


@pytest.fixture(scope="module")
def texts(all_data_dir: Path) -> dict[str, list[str]]:
    d = all_data_dir / "tokenizers/llama-cpp-vocab"
    return {"inp": _lines(d / "ggml-vocab-llama-spm.gguf.inp")}


def test_pvalues_uniform_under_exchangeable_splits(texts: dict[str, list[str]]) -> None:
    rng = np.random.default_rng(0)
    pool = texts["inp"]
    emb = embed(pool)
    pids = np.zeros(len(pool), dtype=int)
    ps = []
    for _ in range(100):
        labels = rng.permutation(np.arange(len(pool)) % 2).astype(np.int8)
        _mmd, p, _null = mmd_permutation_test(emb, pids, labels, rng, n_perm=200)
        ps.append(p)
    ps = np.asarray(ps)
    assert 0.0 <= np.mean(ps < 0.05) <= 0.15  # nominal 5 %, binomial noise at 100 draws
    assert 0.35 < np.mean(ps) < 0.65


def test_detects_different_sources() -> None:
    # English and Chinese questions vs short Python statements
    from taoke.blackbox.probes.behaviour import QUERIES
    from taoke.blackbox.same_model import DEFAULT_PROMPTS

    a = [q for _i, q in QUERIES] + list(DEFAULT_PROMPTS[:8])
    b = ["def f(x):\n    return x", "for i in range(10): print(i)", "import numpy as np", "x = [1, 2, 3]",
         "class A:\n    pass", "if a == b:\n    c()", "while True: break", "return None", "print('hi')",
         "y = {k: v for k, v in d.items()}", "assert x > 0", "with open(p) as f:", "lambda x: x + 1",
         "try:\n    pass", "except ValueError:", "raise SystemExit(1)"]
    emb = embed(a + b)
    labels = np.asarray([1] * len(a) + [0] * len(b), dtype=np.int8)
    mmd, p, _ = mmd_permutation_test(emb, np.zeros(len(labels), dtype=int), labels, np.random.default_rng(1), 500)
    assert mmd > 0 and p < 0.01
