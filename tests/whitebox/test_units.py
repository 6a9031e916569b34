"""The hidden-unit agreement test on real weights: power on real transformations, validity on real nulls."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import taoke
from taoke.whitebox.mlp import mlp_parts
from taoke.whitebox.units import (
    interior_layers,
    log10_agreement_tail,
    majority_log10_p,
    match_units,
    unit_test,
)


def test_tail_bound_values() -> None:
    assert log10_agreement_tail(0) == 0.0 and log10_agreement_tail(1) == 0.0
    assert math.isclose(log10_agreement_tail(5), -math.log10(120))
    assert log10_agreement_tail(256) < -500  # 256! > 1e506
    # the bound really bounds: fixed points of random permutations (empirical tail vs 1/k!)
    rng = np.random.default_rng(0)
    fp = np.array([np.sum(rng.permutation(300) == np.arange(300)) for _ in range(4000)])
    for k in (2, 3, 4, 5):
        assert np.mean(fp >= k) <= 10 ** log10_agreement_tail(k) * 1.15


def test_majority_combination_is_robust_to_a_few_layers() -> None:
    assert majority_log10_p([-50.0, 0.0, 0.0, 0.0, 0.0]) == 0.0  # one convergent layer is not enough
    assert majority_log10_p([-50.0, -50.0, -50.0, 0.0, 0.0]) < -100
    assert interior_layers(30) == list(range(1, 29))


@pytest.fixture(scope="module")
def smollm2_parts(smollm2_gguf: Path) -> list[dict[str, np.ndarray]]:
    with taoke.open(smollm2_gguf) as m:
        return [mlp_parts(m, i) for i in (3, 10, 17, 24)]


def test_permuted_rotated_noised_layer_is_matched(smollm2_parts: list[dict[str, np.ndarray]]) -> None:
    """A real layer with its units permuted, its residual basis rotated and 10% noise added still matches."""
    rng = np.random.default_rng(1)
    p = smollm2_parts[1]
    d = p["up"].shape[1]
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    perm = rng.permutation(p["up"].shape[0])
    child = {k: (v[perm] + 0.1 * v.std() * rng.standard_normal(v.shape)) @ q.T for k, v in p.items()}
    child = {k: v @ q for k, v in child.items()}  # the basis alignment a real run recovers from embeddings
    res = unit_test([p], [child], rng=rng)
    m = res.matches[0]
    assert m.agreement >= 250  # of 256 sampled units
    assert m.log10_p < -400
    pi, cos = match_units(p["up"], child["up"])
    assert np.mean(pi[perm] == np.arange(len(perm))) > 0.99 and cos > 0.95


def test_different_layers_of_one_model_do_not_match(smollm2_parts: list[dict[str, np.ndarray]]) -> None:
    """Units of distinct real layers are not copies of each other: agreement stays at chance."""
    rng = np.random.default_rng(2)
    for i, j in ((0, 2), (1, 3), (0, 3)):
        res = unit_test([smollm2_parts[i]], [smollm2_parts[j]], rng=rng)
        assert res.matches[0].agreement <= 12, (i, j, res.matches[0].agreement)


def test_interior_layer_p_values_of_unrelated_models_are_not_small(smollm2_gguf: Path, gemma3_gguf: Path) -> None:
    """Real null: SmolLM2 vs Gemma-3 interior layers. The per-layer p-values must not be concentrated near 0."""
    from taoke.tokenizers import shared_token_ids
    from taoke.whitebox.align import align_by_embeddings

    rng = np.random.default_rng(3)
    with taoke.open(smollm2_gguf) as a, taoke.open(gemma3_gguf) as b:
        ia, ib = shared_token_ids(a.tokenizer(), b.tokenizer())
        al = align_by_embeddings(a, b, ia, ib, rng=rng)
        pa = [mlp_parts(a, i) for i in range(4, 26, 3)]
        pb = [{k: v @ al.R for k, v in mlp_parts(b, j).items()} for j in range(3, 16, 2)]
    res = unit_test(pa, pb, rng=rng)
    ps = [10 ** m.log10_p for m in res.matches]
    assert np.mean(np.array(ps) <= 0.05) <= 0.25, [m.agreement for m in res.matches]
    assert res.log10_p > -6
