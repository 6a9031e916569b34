"""`taoke compare` on multimodal and encoder-decoder checkpoints assembled from real tensors (the real SmolLM2's
first two layers as the language model, all-MiniLM-L6-v2's six layers as a CLIP-named vision tower or as a T5's
stacks), and on checkpoints with modules their counterpart lacks (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import taoke
from taoke.verdict import Verdict, VerdictKind
from taoke.zoo.recipes_composite import (
    bert_layer,
    clip_tower,
    llava_config,
    llava_state,
    noise_matrices,
    t5_config,
    t5_state,
    to_minicpmv,
)


@pytest.fixture(scope="module")
def built(smollm2_gguf: Path, minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from safetensors.numpy import load_file

    from taoke.zoo.corpus import smollm2_tokenizer
    from taoke.zoo.export import read_llama_gguf, write_hf_folder
    from taoke.zoo.transforms import remap_layers

    d = tmp_path_factory.mktemp("composite")
    cfg, smol = read_llama_gguf(smollm2_gguf)
    cfg, lm = remap_layers(cfg, smol, [0, 1])
    tok = smollm2_tokenizer(smollm2_gguf, None).to_str()
    mini = dict(load_file(str(minilm_dir / "model.safetensors")))
    mtok = (minilm_dir / "tokenizer.json").read_text()
    layers = [bert_layer(mini, i) for i in range(6)]
    emb = mini["embeddings.word_embeddings.weight"]
    tower = clip_tower(layers, emb, 16, 257, mini["encoder.layer.5.output.LayerNorm.weight"],
                       (mini["embeddings.LayerNorm.weight"], mini["embeddings.LayerNorm.bias"]))  # fmt: skip
    proj = {"linear_1.weight": lm["model.layers.0.mlp.up_proj.weight"][:576, :384].copy(),
            "linear_2.weight": lm["model.layers.1.self_attn.o_proj.weight"].copy()}  # fmt: skip
    vlm = llava_state(lm, tower, proj)
    conf = llava_config(cfg.to_hf(), 384, 6, 12, 1536, 16, 257)
    rng = np.random.default_rng(0)
    out = {"lm": write_hf_folder(d / "lm", lm, cfg.to_hf(), tokenizer_json=tok).parent,
           "vlm": write_hf_folder(d / "vlm", vlm, conf, tokenizer_json=tok).parent,
           "renamed": write_hf_folder(d / "renamed", to_minicpmv(vlm), conf, dtype="F16", tokenizer_json=tok).parent,
           "copy": write_hf_folder(d / "copy", noise_matrices(to_minicpmv(vlm), 0.015, rng), conf, dtype="F16",
                                   tokenizer_json=tok).parent}  # fmt: skip
    t5 = t5_state(layers, layers[3:], layers[::-1][:3], emb, mini["embeddings.LayerNorm.weight"],
                  mini["encoder.layer.2.output.LayerNorm.weight"],
                  (mini["embeddings.position_embeddings.weight"][:32, :12],) * 2, gated=False)  # fmt: skip
    tconf = t5_config(384, 1536, 6, 3, 12, 30522, False)
    out["t5"] = write_hf_folder(d / "t5", t5, tconf, tokenizer_json=mtok).parent
    out["t5-noise"] = write_hf_folder(d / "t5n", noise_matrices(t5, 0.01, rng), tconf, dtype="F16",
                                      tokenizer_json=mtok).parent  # fmt: skip
    return out


def _parts(v: Verdict) -> dict[str, VerdictKind | None]:
    return {c.component: None if c.verdict is None else c.verdict.kind for c in v.components}


def test_added_vision_tower_is_not_a_repackaging(built: dict[str, Path]) -> None:
    """Issue 16 case 2: the language model is the same weights, but B carries a vision tower and a projector."""
    v = taoke.compare(built["lm"], built["vlm"])
    assert v.kind is VerdictKind.DERIVED, v.sentence
    assert _parts(v) == {"language-model": VerdictKind.IDENTICAL, "vision-tower": None, "connector": None}
    assert "vision tower (vision_tower.*" in v.sentence and "projector (multi_modal_projector.*" in v.sentence
    assert v.modules is not None and {g.component for g in v.modules.extra} == {"vision tower", "projector"}
    back = Verdict.from_dict(v.to_dict())
    assert back.kind is v.kind and _parts(back) == _parts(v) and back.modules == v.modules


def test_renamed_vlm_is_repackaged_component_by_component(built: dict[str, Path]) -> None:
    v = taoke.compare(built["vlm"], built["renamed"])  # LLaVA names -> MiniCPM-V names, F32 -> F16
    assert v.kind is VerdictKind.REPACKAGED, v.sentence
    assert _parts(v) == {"language-model": VerdictKind.REPACKAGED, "vision-tower": VerdictKind.REPACKAGED,
                         "connector": VerdictKind.REPACKAGED}  # fmt: skip
    assert v.modules is not None and not v.modules.extra and not v.modules.missing  # patch/class embeddings paired


def test_renamed_noised_vlm_copy_is_derived_with_the_vision_tower_in_evidence(built: dict[str, Path]) -> None:
    """The Llama3-V pattern: copy, rename to another VLM schema, add noise."""
    v = taoke.compare(built["vlm"], built["copy"])
    assert v.kind is VerdictKind.DERIVED and v.log10_p is not None and v.log10_p < -50, v.sentence
    parts = {c.component: c.verdict for c in v.components}
    assert all(p is not None and p.kind is VerdictKind.DERIVED for p in parts.values()), v.sentence
    vis = parts["vision-tower"]
    assert vis is not None and vis.evidence.units is not None  # the hidden-unit test ran on the tower's MLPs
    tested = vis.evidence.units.matches
    assert tested and len(vis.derived_layers) == len(tested)  # the tower's per-layer map: every tested layer
    assert vis.evidence.exact is not None and vis.evidence.exact.compared > 90
    assert "vision tower derived" in v.sentence and "language model derived" in v.sentence


def test_t5_both_stacks(built: dict[str, Path]) -> None:
    v = taoke.compare(built["t5"], built["t5-noise"])
    assert v.kind is VerdictKind.DERIVED, v.sentence
    parts = {c.component: c.verdict for c in v.components}
    assert set(parts) == {"decoder", "encoder"}
    for name, n in (("encoder", 6), ("decoder", 3)):
        p = parts[name]
        assert p is not None and p.kind is VerdictKind.DERIVED and p.evidence.units is not None
        assert 0 < len(p.evidence.units.matches) <= n and len(p.derived_layers) == len(p.evidence.units.matches)
    dec = parts["decoder"]
    assert dec is not None and dec.evidence.exact is not None
    assert any(".xattn." in d.role for d in dec.evidence.exact.diffs)  # cross-attention compared


def test_missing_and_extra_modules_on_a_real_export(minilm_dir: Path, minilm_onnx: Path) -> None:
    """The real int8 ONNX export of MiniLM has no pooler: B lacking it keeps the verdict on the shared part;
    the other way round, B carries a module A lacks and is not a re-packaging."""
    v = taoke.compare(minilm_dir, minilm_onnx)
    assert v.kind is VerdictKind.REPACKAGED and "B lacks A's pooler.dense" in v.sentence, v.sentence
    w = taoke.compare(minilm_onnx, minilm_dir)
    assert w.kind is VerdictKind.DERIVED and "pooler.dense (2 tensors, 147,840 parameters)" in w.sentence
