"""The storage-identity test (taoke.whitebox.requant) on real quantised rows, and `taoke compare` on a real
quantised file against its dequantisation: re-packaged only when the blocks reproduce (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taoke
from taoke.verdict import VerdictKind
from taoke.whitebox.requant import REPRODUCE_MIN, StorageCheck, check_storage, quantiser_for, round_to


@pytest.fixture(scope="module")
def q4_rows(smollm2_gguf: Path) -> dict[str, tuple[str, np.ndarray]]:
    """32 seeded rows of three real SmolLM2 roles (Q4_1 and Q8_0), dequantised."""
    rng = np.random.default_rng(0)
    out = {}
    with taoke.open(smollm2_gguf) as m:
        for role in ("embed", "layers.3.attn.q", "layers.20.mlp.down"):
            n = m.role_shapes()[role][0]
            out[role] = (m.role_dtype(role), m.get(role, rows=np.sort(rng.choice(n, 32, replace=False))))
    return out


def test_genuine_repackagings_reproduce_every_block(q4_rows: dict[str, tuple[str, np.ndarray]]) -> None:
    rng = np.random.default_rng(1)
    for role, (dt, xq) in q4_rows.items():
        assert dt in ("Q4_1", "Q8_0")
        for f in ("F32", "F16", "BF16"):  # the dequantisation stored in any float format
            c = check_storage(role, xq, dt, round_to(xq, f), f, rng=rng)
            assert c.share == 1.0 and not c.modified, (role, f, c)
            assert c.method == "dequantise" and c.by_dequant == c.blocks
        q8 = quantiser_for("Q8_0")
        assert q8 is not None
        c = check_storage(role, xq, "F32", q8[1](xq), "Q8_0", rng=rng)  # a re-quantisation of the dequantisation
        assert c.share == 1.0 and not c.modified, c
    dt, xq = q4_rows["layers.3.attn.q"]  # Q4_1: its dequantisation is no Q8_0 grid, so the Q8_0 is re-quantised
    c = check_storage("q", xq, "F32", quantiser_for("Q8_0")[1](xq), "Q8_0", rng=rng)  # type: ignore[index]
    assert c.share == 1.0 and c.method.startswith("requantise:") and c.by_dequant == 0, c


def test_noise_below_the_tolerance_is_not_a_repackaging(q4_rows: dict[str, tuple[str, np.ndarray]]) -> None:
    """The issue's case: 1.5 % noise, stored as F16, is far inside Q4_1's tolerance but reproduces no block."""
    rng = np.random.default_rng(2)
    for role, (dt, xq) in q4_rows.items():
        noisy = xq + 0.015 * xq.std() * rng.standard_normal(xq.shape).astype(np.float32)
        c = check_storage(role, xq, dt, round_to(noisy, "F16"), "F16", rng=rng)
        assert c.modified and c.share is not None and c.share < 0.2, (role, c)
        assert 0.01 < c.deviation < 0.03  # the noise level, reported


def test_noise_inside_float_rounding_cannot_be_told(q4_rows: dict[str, tuple[str, np.ndarray]]) -> None:
    """Noise far below F16's rounding is absorbed by it: the documented limit, not a false alarm."""
    rng = np.random.default_rng(3)
    dt, xq = q4_rows["layers.3.attn.q"]
    noisy = xq + 1e-6 * xq.std() * rng.standard_normal(xq.shape).astype(np.float32)
    assert not check_storage("q", xq, dt, round_to(noisy, "F16"), "F16", rng=rng).modified


def test_untestable_and_same_format_cases(q4_rows: dict[str, tuple[str, np.ndarray]]) -> None:
    rng = np.random.default_rng(4)
    dt, xq = q4_rows["layers.3.attn.q"]
    c = check_storage("q", xq, "INT8xSCALE", xq + 1e-4, "F32", rng=rng)  # no quantiser known
    assert not c.testable and c.share is None and not c.modified and "INT8xSCALE" in c.note
    c = check_storage("q", xq, dt, xq + 1e-3, "F32", rng=rng, imatrix=(True, False))  # needs the importance matrix
    assert not c.testable and "importance matrix" in c.note
    c = check_storage("q", xq, dt, xq, dt, rng=rng)  # the same format: the same blocks
    assert c.method == "same-format" and c.share == 1.0
    y = xq.copy()
    y[:, ::32] += 1e-3  # one element changed in every block
    assert check_storage("q", xq, dt, y, dt, rng=rng).share == 0.0
    assert StorageCheck.from_dict(c.to_dict()) == c
    assert 0.5 < REPRODUCE_MIN < 1


@pytest.fixture(scope="module")
def small_quantised(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-layer SmolLM2 (its real first two layers) as a Q8_0 GGUF, its dequantisation (F16 folder), the same
    with 1.5 % noise on every matrix, and a Q8_0 re-quantisation of the noised copy."""
    from taoke.zoo.export import read_llama_gguf, write_hf_folder, write_llama_gguf
    from taoke.zoo.recipes_composite import noise_matrices
    from taoke.zoo.transforms import remap_layers

    d = tmp_path_factory.mktemp("requant")
    cfg, st = read_llama_gguf(smollm2_gguf)
    cfg, st = remap_layers(cfg, st, [0, 1])
    q = write_llama_gguf(d / "a.gguf", cfg, st, template_gguf=smollm2_gguf, qtype="Q8_0")
    _, deq = read_llama_gguf(q)
    noisy = noise_matrices(deq, 0.015, np.random.default_rng(0))  # every matrix, as in the issue
    out = {"q8": q}
    out["f16"] = write_hf_folder(d / "f16", deq, cfg.to_hf(), dtype="F16").parent
    out["noise"] = write_hf_folder(d / "noise", noisy, cfg.to_hf(), dtype="F16").parent
    out["noise_q8"] = write_llama_gguf(d / "noise.gguf", cfg, noisy, template_gguf=smollm2_gguf, qtype="Q8_0")
    return out


def test_compare_dequantisation_vs_noised_copy(small_quantised: dict[str, Path]) -> None:
    a = small_quantised["q8"]
    v = taoke.compare(a, small_quantised["f16"])
    assert v.kind is VerdictKind.REPACKAGED, v.sentence
    ex = v.evidence.exact
    assert ex is not None and ex.blocks[0] == ex.blocks[1] > 0 and not ex.modified
    assert "reproduces 100.0%" in v.sentence
    for b in ("noise", "noise_q8"):  # within Q8_0's tolerance, yet not the same weights
        v = taoke.compare(a, small_quantised[b])
        assert v.kind is VerdictKind.DERIVED, (b, v.sentence)
        ex = v.evidence.exact
        assert ex is not None and all(d.within for d in ex.diffs)  # every tensor within precision: the old verdict
        assert ex.modified and "not a re-packaging" in v.sentence
        assert v.to_dict()["evidence"]["tensors"]["storage"]["modified"]  # type: ignore[index]
