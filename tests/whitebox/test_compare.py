"""`taoke compare` on the real cases of the issue and on the fast zoo (real bases, real transformations)."""

from __future__ import annotations

from pathlib import Path

import pytest

import taoke
from taoke.verdict import Verdict


def verdict(a: Path | str, b: Path | str) -> Verdict:
    return taoke.compare(a, b)


def test_minilm_safetensors_vs_int8_onnx_is_repackaged(minilm_dir: Path, minilm_onnx: Path) -> None:
    v = verdict(minilm_dir, minilm_onnx)
    assert v.kind == "repackaged", v.sentence
    ex = v.evidence.exact
    assert ex is not None and ex.compared == 101
    w = ex.worst
    assert w is not None and 0.0 < w.rel_err < w.tolerance  # quantised: not bit-identical, within int8 precision


def test_smollm2_vs_gemma3_is_unrelated(smollm2_gguf: Path, gemma3_gguf: Path) -> None:
    v = verdict(smollm2_gguf, gemma3_gguf)
    assert v.kind == "unrelated", v.sentence
    assert v.evidence.units is not None and v.evidence.units.log10_p > -6
    assert not v.evidence.arch.same_architecture
    # measured trap: the last layers of unrelated models converge (shared vocabulary); the verdict must not care
    assert v.evidence.stdfp is not None and v.evidence.stdfp.correlation is None  # 30 vs 18 layers


def test_minilm_l6_vs_paraphrase_l3_siblings(minilm_dir: Path, paraphrase_onnx: Path) -> None:
    """Both descend from one MiniLM line: taoke finds shared units in two layers, far from a copy."""
    v = verdict(minilm_dir, paraphrase_onnx)
    u = v.evidence.units
    assert u is not None
    rates = [m.agreement_rate for m in u.matches]
    assert v.kind == "derived", v.sentence
    assert max(rates) < 0.5  # related by descent, heavily changed: not a re-packaged or lightly tuned copy
    assert sum(m.log10_p < -6 for m in u.matches) >= 2


def test_zoo_fast_verdicts(zoo, smollm2_gguf: Path) -> None:  # type: ignore[no-untyped-def]
    """Every fast-zoo entry against its parent gets the right verdict; independent pairs are not called related."""
    from taoke.zoo.evaluate import eval_pairs, evaluate, summarize

    pairs = eval_pairs(zoo)
    assert any(t == "independent" for _, _, t, _ in pairs) and any(t == "derived" for _, _, t, _ in pairs)
    results = evaluate(zoo, pairs)
    wrong = [(r.a, r.b, r.truth, r.verdict) for r in results if not r.correct]
    assert not wrong, wrong
    s = summarize(results)
    assert s["false_positives_on_independent"] == 0
    for r in results:
        if r.truth != "derived":
            continue
        if r.log10_p is None:  # derived by modules B adds on top of A's exact weights (storage identity)
            assert r.shared_part in ("identical", "repackaged"), r
        else:
            assert r.log10_p < -6, r


@pytest.mark.parametrize("name", ["smollm2-f32"])
def test_gguf_vs_dequantised_copy_is_repackaged(zoo, smollm2_gguf: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    v = verdict(smollm2_gguf, zoo.path_of(name))
    assert v.kind in ("identical", "repackaged"), v.sentence


def test_new_mlp_on_a_copied_body_is_a_partial_copy(minilm_dir: Path, tmp_path: Path) -> None:
    """Real MiniLM whose MLP matrices are replaced (entries shuffled: same statistics, no unit structure) while
    attention, embeddings and norms are kept: the unit test cannot see it; the copied matrices can."""
    import shutil

    import numpy as np
    from safetensors.numpy import load_file, save_file

    out = tmp_path / "minilm-new-mlp"
    shutil.copytree(minilm_dir, out, ignore=shutil.ignore_patterns("*.onnx", "onnx", "1_Pooling"))
    st = load_file(str(minilm_dir / "model.safetensors"))
    rng = np.random.default_rng(0)
    mlp = [k for k in st if k.endswith(("intermediate.dense.weight", "output.dense.weight")) and "attention" not in k]
    assert len(mlp) == 12  # 6 layers × (up, down)
    for k in mlp:
        st[k] = rng.permutation(st[k].reshape(-1)).reshape(st[k].shape)
    save_file(st, str(out / "model.safetensors"))
    v = verdict(minilm_dir, out)
    assert v.kind == "derived" and v.sentence.startswith("derived (partial copy)"), v.sentence
    assert v.log10_p is None and v.evidence.units is not None and v.evidence.units.log10_p > -6
    shared = v.evidence.exact.shared_matrices if v.evidence.exact else ()
    assert len(shared) >= 24  # attention q/k/v/o of 6 layers at least
    assert not any(".mlp." in d.role for d in shared), [d.role for d in shared]  # the replaced matrices are not
