"""Checks of the full-subset entries; each test skips when its entry has not been built (`taoke zoo build --full`).

These do not build anything: building the full subset takes many CPU minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.deps import require

torch = require("torch")
pytestmark = pytest.mark.slow  # reads several 0.5 GB entries; only meaningful after `taoke zoo build --full`

from safetensors.numpy import load_file  # noqa: E402

from taoke.zoo.manifest import ZooManifest  # noqa: E402
from taoke.zoo.train import LlamaConfig, build_model  # noqa: E402


@pytest.fixture(scope="module")
def zoo(data_dir: Path) -> ZooManifest:
    p = data_dir / "zoo" / "zoo.json"
    if not p.exists():
        pytest.skip("no zoo built")
    return ZooManifest.load(p)


def _need(zoo: ZooManifest, *names: str) -> None:
    for n in names:
        if n not in zoo.names() or not zoo.weights_file(n).is_file():
            pytest.skip(f"{n} not built (taoke zoo build --full)")


def _load(zoo: ZooManifest, name: str) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    folder = zoo.path_of(name)
    cfg = LlamaConfig.from_hf(json.loads((folder / "config.json").read_text()))
    return cfg, dict(load_file(str(folder / "model.safetensors")))


def _logits(zoo: ZooManifest, cfg: LlamaConfig, st: dict[str, np.ndarray]) -> np.ndarray:
    """Logits on real text (a stdlib docstring) tokenised with the tokenizer.json the zoo wrote."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(zoo.path_of("smollm2-f32") / "tokenizer.json"))
    ids = np.asarray([0] + tok.encode(json.__doc__ or "", add_special_tokens=False).ids[:40], dtype=np.int64)
    m = build_model(cfg, st)
    m.eval()
    with torch.no_grad():
        return m(torch.from_numpy(ids[None]))[0].numpy()


def test_requantised_gguf_matches_the_f32_copy(zoo: ZooManifest) -> None:
    _need(zoo, "smollm2-q8_0", "smollm2-f32")
    from taoke.zoo.export import read_llama_gguf

    cfg, q8 = read_llama_gguf(zoo.weights_file("smollm2-q8_0"))
    _, f32 = _load(zoo, "smollm2-f32")
    assert set(q8) == set(f32)
    for k in (
        "model.layers.4.self_attn.q_proj.weight",
        "model.layers.4.self_attn.k_proj.weight",
        "model.embed_tokens.weight",
    ):
        a, b = q8[k].ravel(), f32[k].ravel()
        cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert cos > 0.9999, (k, cos)


def test_rescale_preserves_the_function(zoo: ZooManifest) -> None:
    _need(zoo, "smollm2-rescale", "smollm2-f32")
    cfg, st = _load(zoo, "smollm2-f32")
    _, rs = _load(zoo, "smollm2-rescale")
    ref, got = _logits(zoo, cfg, st), _logits(zoo, cfg, rs)
    assert float(np.abs(got - ref).max()) < 1e-3 * float(np.abs(ref).max())
    k = "model.layers.7.self_attn.q_proj.weight"
    assert abs(float(np.linalg.norm(rs[k]) / np.linalg.norm(st[k])) - 1) > 0.01


def test_merge_is_the_midpoint_and_finetune_perm_is_a_permuted_finetune(zoo: ZooManifest) -> None:
    _need(zoo, "smollm2-merge", "smollm2-finetune", "smollm2-f32", "smollm2-finetune-perm")
    _, st = _load(zoo, "smollm2-f32")
    _, ft = _load(zoo, "smollm2-finetune")
    _, mg = _load(zoo, "smollm2-merge")
    k = "model.layers.29.mlp.up_proj.weight"
    np.testing.assert_allclose(mg[k], 0.5 * st[k] + 0.5 * ft[k], rtol=1e-6, atol=1e-7)
    _, fp = _load(zoo, "smollm2-finetune-perm")
    perm = json.loads((zoo.path_of("smollm2-finetune-perm") / "permutation.json").read_text())
    np.testing.assert_array_equal(fp[k], ft[k][np.asarray(perm["mlp"][29])])


def test_structure_changes(zoo: ZooManifest) -> None:
    _need(
        zoo,
        "smollm2-layer-dup",
        "smollm2-vocab-prune",
        "smollm2-vocab-extend",
        "smollm2-moe-upcycle",
        "smollm2-f32",
    )
    _, st = _load(zoo, "smollm2-f32")
    cfg_d, dup = _load(zoo, "smollm2-layer-dup")
    lm = zoo.entry("smollm2-layer-dup").layer_map
    assert lm is not None and cfg_d.num_layers == len(lm) == 40
    np.testing.assert_array_equal(
        dup["model.layers.25.mlp.up_proj.weight"], st[f"model.layers.{lm[25]}.mlp.up_proj.weight"]
    )
    cfg_p, pr = _load(zoo, "smollm2-vocab-prune")
    kept = json.loads((zoo.path_of("smollm2-vocab-prune") / "kept_ids.json").read_text())
    assert cfg_p.vocab_size == len(kept) == 24000
    np.testing.assert_array_equal(pr["model.embed_tokens.weight"], st["model.embed_tokens.weight"][kept])
    cfg_e, ex = _load(zoo, "smollm2-vocab-extend")
    assert cfg_e.vocab_size == 49152 + 1024
    moe = load_file(str(zoo.weights_file("smollm2-moe-upcycle")))
    e0 = moe["model.layers.3.block_sparse_moe.experts.0.w3.weight"].astype(np.float32)
    e1 = moe["model.layers.3.block_sparse_moe.experts.1.w3.weight"].astype(np.float32)
    base = st["model.layers.3.mlp.up_proj.weight"]
    assert not np.array_equal(e0, e1)
    assert float(np.corrcoef(e0.ravel(), base.ravel())[0, 1]) > 0.99
    assert moe["model.layers.3.block_sparse_moe.gate.weight"].shape == (4, 576)


def test_continued_and_more_independent_models(zoo: ZooManifest) -> None:
    _need(zoo, "smollm2-continued", "tiny-4", "tiny-5")
    r = zoo.entry("smollm2-continued").params["result"]
    assert r["steps"] >= 300 and r["train_loss_last"] < r["train_loss_first"]
    for k in (4, 5):
        rr = zoo.entry(f"tiny-{k}").params["result"]
        assert rr["held_out_after"] < rr["held_out_before"] - 1.0
