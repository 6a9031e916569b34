"""Role mapping on the real checkpoints' tensor names and shapes (headers only), and the shape fallback."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from taoke.errors import RoleError
from taoke.io import ModelConfig, open_checkpoint
from taoke.roles import LAYOUT_NORM_PLUS_ONE, LAYOUT_ROPE_PERMUTED, RoleMap, map_roles, map_tensors

LLAMA_LAYER = {
    "norm.attn",
    "attn.q",
    "attn.k",
    "attn.v",
    "attn.o",
    "norm.mlp",
    "mlp.gate",
    "mlp.up",
    "mlp.down",
}


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with open_checkpoint(path) as ck:
        return {n: t.shape for n, t in ck.tensor_infos().items()}


@pytest.fixture(scope="module")
def smol_map(smollm2_gguf: Path) -> RoleMap:
    with open_checkpoint(smollm2_gguf) as ck:
        return map_roles(ck)


def test_smollm2_gguf_by_name(smol_map: RoleMap) -> None:
    rm = smol_map
    assert (rm.family, rm.method, rm.num_layers, rm.unmapped) == ("llama", "names", 30, ())
    assert len(rm) == 272  # every tensor: embed + final_norm + 30 × 9
    for i in range(30):
        assert set(rm.layer_roles(i)) == LLAMA_LAYER
    assert "lm_head" not in rm  # tied embeddings: no output.weight in the file
    assert rm["layers.4.attn.q"].layout == LAYOUT_ROPE_PERMUTED == rm["layers.4.attn.k"].layout
    assert rm["layers.4.attn.v"].layout is None
    assert rm["layers.7.attn.k"].shape == (192, 576) and not rm["layers.7.attn.k"].transposed
    assert rm["layers.0.mlp.down"].shape == (576, 1536)


def test_minilm_safetensors_and_folder(minilm_dir: Path) -> None:
    for loc in (minilm_dir, minilm_dir / "model.safetensors"):
        with open_checkpoint(loc) as ck:
            rm = map_roles(ck)
        assert (rm.family, rm.method, rm.num_layers) == ("bert", "names", 6)
        assert set(rm.unmapped) == {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
        for role in ("embed", "pos_embed", "type_embed", "embed_norm", "embed_norm.bias"):
            assert role in rm
        lay = rm.layer_roles(5)
        assert {"attn.q", "attn.q.bias", "norm.attn", "norm.attn.bias", "mlp.up", "mlp.down.bias"} <= set(lay)
        assert lay["norm.attn"].name == "encoder.layer.5.attention.output.LayerNorm.weight"
        assert lay["mlp.down"].name == "encoder.layer.5.output.dense.weight"


def test_minilm_onnx_prefix_and_anonymous_weights(minilm_onnx: Path) -> None:
    with open_checkpoint(minilm_onnx) as ck:
        rm = map_roles(ck)
    assert rm.prefix == "inner." and rm.method == "names+graph" and rm.num_layers == 6
    # the 36 anonymous int8 MatMul weights all get roles, stored (in, out)
    graph = {k: v for k, v in rm.refs.items() if v.how == "graph"}
    assert len(graph) == 36 and all(v.transposed and v.name.startswith("val_") for v in graph.values())
    assert rm["layers.0.attn.q"].name == "val_49" and rm["layers.0.mlp.up"].shape == (1536, 384)
    assert all(not n.startswith("inner.") for n in rm.unmapped)  # only float scalars of the graph are left


def test_graph_order_refuses_mismatched_sizes(minilm_onnx: Path) -> None:
    with open_checkpoint(minilm_onnx) as ck:
        shapes = {n: t.shape for n, t in ck.tensor_infos().items()}
        mm = ck.metadata["matmul_weights"]
    order = list(mm)
    # swap the first up and down weights in graph order: sizes no longer match their biases -> no graph roles
    i, j = order.index("val_109"), order.index("val_118")
    order[i], order[j] = order[j], order[i]
    rm = map_tensors(shapes, stored_transposed={k: v["transposed"] for k, v in mm.items()}, graph_order=order)
    assert not any(v.how == "graph" for v in rm.refs.values())
    assert any("do not match" in n for n in rm.notes)


def test_gemma3_gguf_sandwich_norms(gemma3_gguf: Path) -> None:
    with open_checkpoint(gemma3_gguf) as ck:
        rm = map_roles(ck)
    assert (rm.family, rm.num_layers, rm.unmapped) == ("gemma3", 18, ())
    lay = rm.layer_roles(3)
    assert set(lay) == LLAMA_LAYER | {"attn.q_norm", "attn.k_norm", "norm.post_attn", "norm.post_ffn"}
    assert lay["norm.mlp"].name == "blk.3.ffn_norm.weight"
    assert lay["attn.q"].shape == (1024, 640) and lay["attn.q"].layout is None  # gemma3 is not rope-permuted
    norms = [r for r in rm.refs.values() if r.name.endswith("norm.weight")]
    assert norms and all(r.layout == LAYOUT_NORM_PLUS_ONE for r in norms)


def test_deepseek_head_qwen2(deepseek_head: Path) -> None:
    with open_checkpoint(deepseek_head) as ck:
        rm = map_roles(ck)
    assert (rm.family, rm.num_layers, rm.unmapped) == ("qwen2", 28, ())
    assert rm["lm_head"].shape == (152064, 3584)
    assert rm["layers.27.attn.k.bias"].shape == (512,) and rm["layers.0.attn.q"].layout is None


def test_paraphrase_onnx(paraphrase_onnx: Path) -> None:
    with open_checkpoint(paraphrase_onnx) as ck:
        rm = map_roles(ck)
    assert rm.prefix == "model.0.auto_model." and rm.num_layers == 3 and rm.unmapped == ()
    assert rm["layers.2.mlp.down"].name.startswith("onnx::MatMul_") and rm["layers.2.mlp.down"].transposed


# ---------------------------------------------------------------------------------------------- renamed names
def _renamed(
    shapes: dict[str, tuple[int, ...]], seed: int
) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Every tensor renamed to t0001… in a random order of numbers, file order kept (like a renaming tool)."""
    rng = random.Random(seed)
    nums = list(range(1, len(shapes) + 1))
    rng.shuffle(nums)
    new = {f"t{k:04d}": s for k, s in zip(nums, shapes.values(), strict=True)}
    back = dict(zip(new, shapes, strict=True))
    return new, back


def _compare_up_to_layer_order(named: RoleMap, fb: RoleMap, back: dict[str, str]) -> None:
    """Fallback roles equal the named ones, up to a relabelling of layers (file order ≠ numeric order) and to
    the declared ambiguities."""
    by_name = {ref.name: role for role, ref in named.refs.items()}
    relabel: dict[int, int] = {}
    for role, ref in fb.refs.items():
        true = by_name[back[ref.name]]
        if role.startswith("layers."):
            i, local = role.split(".", 2)[1:]
            j, tlocal = true.split(".", 2)[1:]
            assert relabel.setdefault(int(i), int(j)) == int(j), (role, true)
            if local != tlocal:
                assert f"layers.{i}.{tlocal}" in ref.ambiguous, (role, true, ref.ambiguous)
        else:
            assert role == true
    assert sorted(relabel.values()) == list(range(named.num_layers))


@pytest.mark.parametrize("seed", [0, 1])
def test_fallback_recovers_smollm2_roles(smol_map: RoleMap, smollm2_gguf: Path, seed: int) -> None:
    shapes = _shapes(smollm2_gguf)
    new, back = _renamed(shapes, seed)
    fb = map_tensors(new)
    assert fb.method == "shape-fallback" and fb.num_layers == 30 and fb.unmapped == ()
    assert len(fb) == len(smol_map)
    _compare_up_to_layer_order(smol_map, fb, back)
    # gate and up are always marked ambiguous; q/k/v/o are decided by shapes + the detected order convention
    amb = Counter(r.split(".", 2)[2] for r, ref in fb.refs.items() if ref.ambiguous)
    assert amb == Counter({"mlp.gate": 30, "mlp.up": 30})
    assert not any(ref.transposed for ref in fb.refs.values())


def test_fallback_on_transposed_copy(smol_map: RoleMap, smollm2_gguf: Path) -> None:
    """The same tensors stored (in, out), as ONNX MatMul or GPT-2 Conv1D do; embedding stays (vocab, d)."""
    shapes = _shapes(smollm2_gguf)
    tshapes = {n: (s[::-1] if len(s) == 2 and n != "token_embd.weight" else s) for n, s in shapes.items()}
    new, back = _renamed(tshapes, 2)
    fb = map_tensors(new)
    _compare_up_to_layer_order(smol_map, fb, back)
    mats = [ref for role, ref in fb.refs.items() if len(ref.shape) == 2 and role != "embed"]
    assert mats and all(ref.transposed for ref in mats)
    assert not fb["embed"].transposed
    assert fb["layers.0.attn.k"].shape == (192, 576)  # canonical (out, in) after undoing the transposition


def test_fallback_gemma3_with_config(gemma3_gguf: Path) -> None:
    with open_checkpoint(gemma3_gguf) as ck:
        named = map_roles(ck)
        cfg = ck.config()
        shapes = {n: t.shape for n, t in ck.tensor_infos().items()}
    new, back = _renamed(shapes, 3)
    fb = map_tensors(new, ModelConfig(num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, head_dim=256))
    assert fb.num_layers == 18 and fb.unmapped == ()
    _compare_up_to_layer_order(named, fb, back)


def test_fallback_not_fooled_by_wide_q(gemma3_gguf: Path) -> None:
    """Gemma's q_proj (1024×640) has rows > 1.5·d but is attention, not MLP."""
    new, back = _renamed(_shapes(gemma3_gguf), 4)
    fb = map_tensors(new)
    for i in range(18):
        assert back[fb[f"layers.{i}.attn.q"].name].endswith("attn_q.weight")
        assert back[fb[f"layers.{i}.mlp.down"].name].endswith("ffn_down.weight")


def test_forced_name_method_and_empty_input(smollm2_gguf: Path) -> None:
    new, _ = _renamed(_shapes(smollm2_gguf), 5)
    with pytest.raises(RoleError):
        map_tensors(new, method="names")
    with pytest.raises(RoleError):
        map_tensors({})


def test_fused_names_split(minilm_dir: Path) -> None:
    """GPT-2 / GPT-NeoX / Phi-3 names over MiniLM's real shapes (the tensors themselves: tests/test_model.py)."""
    s = _shapes(minilm_dir)
    d, f = 384, 1536
    gpt2 = {"wte.weight": s["embeddings.word_embeddings.weight"], "wpe.weight": (512, d)}
    neox = {"gpt_neox.embed_in.weight": (30522, d), "embed_out.weight": (30522, d)}
    for i in range(6):
        gpt2 |= {f"h.{i}.ln_1.weight": (d,), f"h.{i}.attn.c_attn.weight": (d, 3 * d), f"h.{i}.attn.c_attn.bias": (3 * d,),
                 f"h.{i}.attn.c_proj.weight": (d, d), f"h.{i}.mlp.c_fc.weight": (d, f), f"h.{i}.mlp.c_proj.weight": (f, d)}  # fmt: skip
        neox |= {f"gpt_neox.layers.{i}.attention.query_key_value.weight": (3 * d, d),
                 f"gpt_neox.layers.{i}.attention.dense.weight": (d, d)}  # fmt: skip
    g = map_tensors(gpt2)
    assert g.family == "gpt2" and g.unmapped == ()
    assert g["layers.2.attn.v"].row_range == (2 * d, 3 * d) and g["layers.2.attn.v"].transposed
    assert g["layers.2.attn.v.bias"].row_range == (2 * d, 3 * d) and not g["layers.2.attn.v.bias"].transposed
    assert g["layers.0.mlp.up"].shape == (f, d) and g["layers.0.mlp.down"].shape == (d, f)
    # NeoX cannot be de-interleaved without the head count
    n0 = map_tensors(neox)
    assert "layers.0.attn.q" not in n0 and any("head counts" in x for x in n0.notes)
    n = map_tensors(neox, ModelConfig(architecture="gpt_neox", num_heads=12, hidden_size=d))
    assert n["layers.1.attn.k"].row_range == (d, 2 * d) and n["layers.1.attn.k"].layout == "neox-qkv-per-head"
    assert n["lm_head"].name == "embed_out.weight" and n.prefix == ""


_HF = {  # llama.cpp → Hugging Face names (the inverse of convert_hf_to_gguf's table for llama)
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}  # fmt: skip


def _hf_name(gguf_name: str, wrapper: str = "") -> str:
    if gguf_name == "token_embd.weight":
        return wrapper + "model.embed_tokens.weight"
    if gguf_name == "output_norm.weight":
        return wrapper + "model.norm.weight"
    _, i, what, param = gguf_name.split(".")
    return f"{wrapper}model.layers.{i}.{_HF[what]}.{param}"


@pytest.mark.parametrize("wrapper", ["", "language_model."])
def test_hf_llama_names(smol_map: RoleMap, smollm2_gguf: Path, wrapper: str) -> None:
    shapes = _shapes(smollm2_gguf)
    hf = {_hf_name(n, wrapper): s for n, s in shapes.items()}
    hf[wrapper + "lm_head.weight"] = shapes["token_embd.weight"]
    # a vision tower with the same layer names must not collide with the language model
    hf["vision_tower.encoder.layers.0.self_attn.q_proj.weight"] = (64, 64)
    rm = map_tensors(hf, ModelConfig(architecture="LlamaForCausalLM", num_heads=9, num_kv_heads=3))
    assert rm.family == "llama" and rm.prefix == wrapper and rm.method == "names"
    assert rm.unmapped == ("vision_tower.encoder.layers.0.self_attn.q_proj.weight",)
    assert set(rm.refs) == set(smol_map.refs) | {"lm_head"}
    for role, ref in smol_map.refs.items():
        assert rm[role].name == _hf_name(ref.name, wrapper) and rm[role].layout is None


def test_moe_names(smollm2_gguf: Path) -> None:
    """Mixtral (HF) and llama.cpp stacked-expert names, over SmolLM2's shapes used as 4 experts."""
    s = _shapes(smollm2_gguf)
    f, d = 1536, 576
    mix = {"model.embed_tokens.weight": s["token_embd.weight"]}
    gg = {"token_embd.weight": s["token_embd.weight"]}
    for i in range(2):
        mix[f"model.layers.{i}.block_sparse_moe.gate.weight"] = (4, d)
        gg[f"blk.{i}.ffn_gate_inp.weight"] = (4, d)
        gg[f"blk.{i}.ffn_gate_exps.weight"] = (4, f, d)
        gg[f"blk.{i}.ffn_down_exps.weight"] = (4, d, f)
        for j in range(4):
            for w, shape in (("w1", (f, d)), ("w2", (d, f)), ("w3", (f, d))):
                mix[f"model.layers.{i}.block_sparse_moe.experts.{j}.{w}.weight"] = shape
    m = map_tensors(mix)
    assert m.family == "mixtral" and m.unmapped == ()
    assert m["layers.1.mlp.experts.3.down"].name == "model.layers.1.block_sparse_moe.experts.3.w2.weight"
    assert m["layers.1.mlp.experts.3.up"].name.endswith("experts.3.w3.weight")
    assert m["layers.0.mlp.router"].shape == (4, d)
    g = map_tensors(gg)
    ref = g["layers.1.mlp.experts.2.gate"]
    assert (ref.name, ref.stack_index, ref.shape) == ("blk.1.ffn_gate_exps.weight", 2, (f, d))
    assert g["layers.0.mlp.experts.3.down"].shape == (d, f)
