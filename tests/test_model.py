"""The Model facade on real checkpoints: canonical orientation, layouts undone, fused splits, fallback reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import taoke
from taoke.errors import RoleError, TensorNotFound
from taoke.io import ModelConfig, open_checkpoint
from taoke.model import Model


@pytest.fixture(scope="module")
def smol(smollm2_gguf: Path):  # type: ignore[no-untyped-def]
    with Model.open(smollm2_gguf) as m:
        yield m


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path):  # type: ignore[no-untyped-def]
    with taoke.open(str(minilm_dir)) as m:
        yield m


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _partner_mismatch(w: np.ndarray, n_head: int) -> float:
    """Median |log| norm ratio of rows j and j + hd/2 in each head: RoPE rotates these two together."""
    hd = w.shape[0] // n_head
    norms = np.linalg.norm(w, axis=1).reshape(n_head, 2, hd // 2)
    return float(np.median(np.abs(np.log(norms[:, 0] / norms[:, 1]))))


def test_basic_facts(smol: Model) -> None:
    assert smol.layers == 30 and smol.format == "gguf" and smol.config.source == "gguf-metadata"
    assert smol.param_count == 134_515_008
    ds = smol.dtype_summary
    assert (ds["Q4_1"]["tensors"], ds["F32"]["tensors"], ds["Q8_0"]["tensors"]) == (210, 61, 1)
    assert smol.has("layers.29.mlp.down") and not smol.has("lm_head") and not smol.has("layers.30.attn.q")
    assert smol.card is not None and smol.card.license == "apache-2.0"
    assert smol.tokenizer().size == 49152
    inf = smol.inferred_config
    assert (inf.hidden_size, inf.num_layers, inf.intermediate_size, inf.vocab_size) == (576, 30, 1536, 49152)
    assert inf.source == "inferred-from-shapes" and inf.tie_embeddings is True


def test_rope_unpermute_pairs_partners(smol: Model) -> None:
    """After undoing llama.cpp's permutation, RoPE partner rows (same frequency) have matching norms; in the
    stored order the rows at those positions do not. Layer 0 is excluded (weak structure in both orders)."""
    for layer in (5, 15, 29):
        for role, heads in (("attn.q", 9), ("attn.k", 3)):
            canon = smol.get(f"layers.{layer}.{role}")
            stored = smol.checkpoint.read(smol.roles[f"layers.{layer}.{role}"].name)
            assert canon.shape == stored.shape
            assert _partner_mismatch(canon, heads) < 0.5 * _partner_mismatch(stored, heads), (layer, role)
            # and it is a row permutation of the stored data
            assert np.array_equal(np.sort(canon, axis=0), np.sort(stored, axis=0))


def test_row_selection_reads_few_bytes(smol_gguf_fresh: Model) -> None:
    m = smol_gguf_fresh
    before = m.bytes_read
    rows = [5, 70, 3, 575]
    part = m.get("layers.3.attn.q", rows=rows)
    small = m.bytes_read - before
    full = m.get("layers.3.attn.q")
    assert np.array_equal(part, full[rows])
    assert small < m.checkpoint.info("blk.3.attn_q.weight").nbytes / 4
    assert np.array_equal(m.get("layers.3.attn.q", rows=slice(10, 20)), full[10:20])


@pytest.fixture()
def smol_gguf_fresh(smollm2_gguf: Path):  # type: ignore[no-untyped-def]
    with Model.open(smollm2_gguf) as m:
        yield m


def test_onnx_int8_equals_safetensors(minilm: Model, minilm_onnx: Path) -> None:
    """W1: the int8 ONNX export of all-MiniLM-L6-v2 gives the same canonical arrays (up to int8 rounding)."""
    with Model.open(minilm_onnx) as onnx:
        assert set(onnx.roles.refs) == set(minilm.roles.refs)
        for role, ref in onnx.roles.refs.items():
            a, b = minilm.get(role), onnx.get(role)
            assert a.shape == b.shape, role
            if ref.how == "graph" or role in ("embed", "pos_embed"):
                assert _cos(a, b) > 0.9997, role  # dequantised int8 vs float32
            else:
                assert np.array_equal(a, b), role  # the FLOAT initializers are bit-identical
        cfg, inf = minilm.config, onnx.config
        assert inf.source == "inferred-from-shapes"
        for f in ("hidden_size", "num_layers", "intermediate_size", "vocab_size", "max_position"):
            assert getattr(inf, f) == getattr(cfg, f), f


def test_gemma_norms_minus_one(gemma3_gguf: Path) -> None:
    with Model.open(gemma3_gguf) as m:
        for role in ("final_norm", "layers.2.norm.attn", "layers.2.attn.q_norm", "layers.17.norm.post_ffn"):
            raw = m.checkpoint.read(m.roles[role].name)
            assert np.array_equal(m.get(role), raw - np.float32(1.0))
        q = m.get("layers.1.attn.q", rows=[0, 300])
        assert np.array_equal(q, m.checkpoint.read("blk.1.attn_q.weight", rows=[0, 300]))  # not permuted


# ----------------------------------------------------------------------------- files derived from real tensors
@pytest.fixture(scope="module")
def derived(
    tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path, smollm2_gguf: Path
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("derived")
    with Model.open(minilm_dir) as m:
        g = {k: m.get(k) for k in ("embed", "pos_embed")}
        gpt2 = {"wte.weight": g["embed"], "wpe.weight": g["pos_embed"]}
        neox = {"gpt_neox.embed_in.weight": g["embed"]}
        for i in range(2):
            q, k, v = (m.get(f"layers.{i}.attn.{x}") for x in "qkv")
            qb, kb, vb = (m.get(f"layers.{i}.attn.{x}.bias") for x in "qkv")
            gpt2[f"h.{i}.attn.c_attn.weight"] = np.ascontiguousarray(np.concatenate([q, k, v]).T)
            gpt2[f"h.{i}.attn.c_attn.bias"] = np.concatenate([qb, kb, vb])
            gpt2[f"h.{i}.attn.c_proj.weight"] = np.ascontiguousarray(m.get(f"layers.{i}.attn.o").T)
            gpt2[f"h.{i}.mlp.c_fc.weight"] = np.ascontiguousarray(m.get(f"layers.{i}.mlp.up").T)
            gpt2[f"h.{i}.mlp.c_proj.weight"] = np.ascontiguousarray(m.get(f"layers.{i}.mlp.down").T)
            # GPT-NeoX: rows interleaved per head, (n_heads, 3, head_dim, d)
            qkv = np.stack([q, k, v]).reshape(3, 12, 32, 384).transpose(1, 0, 2, 3).reshape(1152, 384)
            neox[f"gpt_neox.layers.{i}.attention.query_key_value.weight"] = np.ascontiguousarray(qkv)
            neox[f"gpt_neox.layers.{i}.attention.dense.weight"] = m.get(f"layers.{i}.attn.o")
        save_file(gpt2, str(out / "gpt2.safetensors"))
        save_file(neox, str(out / "neox.safetensors"))
    with Model.open(smollm2_gguf) as s:
        phi = {"model.embed_tokens.weight": s.get("embed", rows=slice(0, 4096))}
        renamed: dict[str, np.ndarray] = {}
        for i in range(2):
            q, k, v = (s.get(f"layers.{i}.attn.{x}") for x in "qkv")
            phi[f"model.layers.{i}.self_attn.qkv_proj.weight"] = np.concatenate([q, k, v])
            phi[f"model.layers.{i}.mlp.gate_up_proj.weight"] = np.concatenate(
                [s.get(f"layers.{i}.mlp.gate"), s.get(f"layers.{i}.mlp.up")]
            )
        save_file(phi, str(out / "phi3.safetensors"))
        # every tensor of the first 3 blocks + embedding rows + final norm, stored data as is, renamed t0001…
        ck = s.checkpoint
        keep = [
            n for n in ck.tensor_infos() if n.split(".")[1] in ("0", "1", "2") or n == "output_norm.weight"
        ]
        keep = ["token_embd.weight"] + [n for n in keep if n != "token_embd.weight"]
        for j, n in enumerate(keep):
            data = ck.read(n, rows=slice(0, 4096)) if n == "token_embd.weight" else ck.read(n)
            renamed[f"t{j + 1:04d}"] = data.astype(np.float16)
        save_file(renamed, str(out / "renamed.safetensors"))
        (out / "renamed.txt").write_text("\n".join(keep))
    return {p.stem: p for p in out.iterdir()}


def test_gpt2_conv1d_fused(derived: dict[str, Path], minilm: Model) -> None:
    with Model.open(derived["gpt2"]) as m:
        assert m.roles.family == "gpt2"
        for i in range(2):
            for x in ("attn.q", "attn.k", "attn.v", "attn.v.bias", "attn.o", "mlp.up", "mlp.down"):
                assert np.array_equal(m.get(f"layers.{i}.{x}"), minilm.get(f"layers.{i}.{x}")), x
        assert np.array_equal(
            m.get("layers.1.attn.k", rows=[0, 383]), minilm.get("layers.1.attn.k")[[0, 383]]
        )


def test_neox_per_head_interleave(derived: dict[str, Path], minilm: Model) -> None:
    ck = open_checkpoint(derived["neox"])
    with Model(ck, config=ModelConfig(architecture="gpt_neox", num_heads=12, hidden_size=384)) as m:
        for i in range(2):
            for x in "qkv":
                assert np.array_equal(m.get(f"layers.{i}.attn.{x}"), minilm.get(f"layers.{i}.attn.{x}")), x
        assert np.array_equal(m.get("layers.0.attn.v", rows=[7, 40]), minilm.get("layers.0.attn.v")[[7, 40]])


def test_phi3_fused_gqa(derived: dict[str, Path], smol: Model) -> None:
    cfg = ModelConfig(architecture="phi3", hidden_size=576, num_heads=9, num_kv_heads=3)
    with Model(open_checkpoint(derived["phi3"]), config=cfg) as m:
        for i in range(2):
            assert m.roles[f"layers.{i}.attn.k"].row_range == (576, 768)
            for x in ("attn.q", "attn.k", "attn.v", "mlp.gate", "mlp.up"):
                assert np.array_equal(m.get(f"layers.{i}.{x}"), smol.get(f"layers.{i}.{x}")), x


def test_fallback_reads_renamed_copy(derived: dict[str, Path], smol: Model) -> None:
    """A copy of real SmolLM2 tensors under meaningless names: roles by shape, data equal to the original."""
    original = (derived["renamed"].with_suffix(".txt")).read_text().split("\n")
    with Model.open(derived["renamed"]) as m:
        assert (
            m.roles.method == "shape-fallback" and m.layers == 3 and m.config.source == "inferred-from-shapes"
        )
        by_name = {ref.name: role for role, ref in smol.roles.refs.items()}
        for role, ref in m.roles.refs.items():
            src = original[int(ref.name[1:]) - 1]
            assert by_name[src] == role or by_name[src] in ref.ambiguous, (role, src)
            stored = smol.checkpoint.read(src, rows=slice(0, 4096) if role == "embed" else None)
            assert np.array_equal(m.get(role), stored.astype(np.float16).astype(np.float32)), role


def test_bad_roles(smol: Model) -> None:
    with pytest.raises(RoleError):
        smol.get("layers.0.attn.z")
    with pytest.raises(TensorNotFound):
        smol.get("lm_head")
    from taoke.errors import UsageError

    with pytest.raises(UsageError):
        smol.get("layers.0.attn.k", rows=[192])
