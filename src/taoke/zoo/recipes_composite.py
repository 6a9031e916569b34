"""Zoo entries for issue 16: copies hidden in quantisation tolerance, added modules, multimodal and
encoder-decoder checkpoints — all assembled from real tensors (the real SmolLM2 GGUF, the real all-MiniLM-L6-v2, and
the independently trained tiny Llamas of :mod:`taoke.zoo.recipes_core`); no matrix here is drawn at random.

* ``smollm2-bf16`` — the real Q4_1 GGUF dequantised and stored as BF16 (a re-packaging the storage-identity test
  must accept); ``smollm2-q4-noise-<s>`` — the dequantised GGUF with Gaussian noise of ``s`` times each matrix's
  standard deviation (norms untouched), stored as F16 (the "copy, add noise" trick; 0.1 is about Q4_1's own rounding error, 0.015 the
  issue's case, 0.003 and 0.001 near the test's detection limit); ``smollm2-q4-noise-0.015-q8_0`` — the same noised
  copy re-quantised to a Q8_0 GGUF;
* ``smollm2-plus-head`` — SmolLM2 plus a one-row reward head (``score.weight``: the difference of the real
  embeddings of " yes" and " no"), a module the original lacks;
* ``vlm-llava`` — a LLaVA-style vision-language checkpoint (``language_model.``, ``vision_tower.vision_model.``,
  ``multi_modal_projector.``): the language model is the dequantised SmolLM2, the vision tower all-MiniLM-L6-v2's
  six encoder layers under CLIP names (patch embedding and class embedding made of MiniLM word-embedding rows), the
  projector two real SmolLM2 matrices (sliced to 576×384 and 576×576);
  ``vlm-llava-bf16`` (the same, BF16: re-packaged), ``vlm-minicpmv-renamed`` (renamed to the MiniCPM-V schema
  ``llm.``/``vpm.``/``resampler.``, F16: re-packaged) and ``vlm-minicpmv-copy`` (renamed and noised, 1.5 %: the
  case of the Llama3-V dispute, derived in every component);
* ``tiny-vlm-{a,b,c}`` — three LLaVA-style checkpoints of one architecture from independently trained tiny Llamas
  (language model from one, vision tower and projector from another): independent pairs with vision towers;
* ``t5-minilm`` — a T5-style encoder-decoder assembled from all-MiniLM-L6-v2 (six encoder blocks; three decoder
  blocks with cross-attention, all from MiniLM's real matrices); ``t5-minilm-noise`` (1 % noise, F16: derived in
  both stacks) and ``t5-minilm-f16`` (re-packaged); ``t5-tiny-{a,b}`` from independent tiny Llamas (T5 v1.1 gated
  feed-forward): an independent encoder-decoder pair.

Every entry is in the ``full`` subset (``taoke zoo build --full``; ``taoke eval --full`` evaluates them).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from taoke.zoo.recipes import BuildContext, Built, Recipe, register
from taoke.zoo.recipes_core import SMOL_GROUP

State = dict[str, np.ndarray]
VLM_GROUP = "vlm-smollm2-minilm"
TINY_VLM_GROUP = "tiny-vlm"
T5_GROUP = "t5-minilm"
TINY_T5_GROUP = "tiny-t5"


# -- writing ------------------------------------------------------------------------------------------------------


def write_bf16_safetensors(path: Path, tensors: Mapping[str, np.ndarray]) -> Path:
    """A safetensors file with float tensors stored as BF16 (round to nearest even), others as they are."""
    from taoke.whitebox.requant import round_to

    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name, arr in tensors.items():
        a = np.asarray(arr)
        if np.issubdtype(a.dtype, np.floating):
            raw = (round_to(a.astype(np.float32), "BF16").view(np.uint32) >> 16).astype("<u2").tobytes()
            dt = "BF16"
        else:
            raw, dt = np.ascontiguousarray(a).tobytes(), {"int64": "I64", "int32": "I32"}[str(a.dtype)]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    tmp.replace(path)
    return path


def _write(ctx: BuildContext, out: Path, state: Mapping[str, np.ndarray], config: Mapping[str, Any], *,
           dtype: str = "F32", tokenizer: str | None = None) -> Built:  # fmt: skip
    """An HF folder (config.json, tokenizer.json — SmolLM2's unless ``tokenizer`` is given — model.safetensors)."""
    from taoke.zoo.export import write_hf_folder

    tok = ctx.tokenizer().to_str() if tokenizer is None else tokenizer
    if dtype == "BF16":
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(dict(config), indent=2, sort_keys=True) + "\n")
        (out / "tokenizer.json").write_text(tok)
        return Built(write_bf16_safetensors(out / "model.safetensors", state))
    return Built(write_hf_folder(out, state, config, dtype=dtype, tokenizer_json=tok))


def noise_matrices(state: Mapping[str, np.ndarray], scale: float, rng: np.random.Generator) -> State:
    """``W + scale·std(W)·N(0, 1)`` on every float tensor of two or more dimensions (the matrices); norms, biases
    and buffers are copied — the copy differs from its source only inside the matrices, as in issue 16's case."""
    from taoke.zoo.transforms import add_noise

    mats = {k: v for k, v in state.items() if np.asarray(v).ndim >= 2 and np.issubdtype(np.asarray(v).dtype, np.floating)}
    noisy = add_noise(mats, scale, rng) if mats else {}
    return {k: noisy.get(k, v) for k, v in state.items()}


# -- the quantised base: noise hidden in its tolerance, a dequantisation to BF16, an added head ----------------------


def _b_bf16(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    cfg, st = ctx.smol()
    return _write(ctx, out, st, cfg.to_hf() | {"torch_dtype": "bfloat16"}, dtype="BF16")


def _b_q4_noise(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    cfg, st = ctx.smol()
    noisy = noise_matrices(st, float(r.params["scale"]), rng)
    if r.params.get("gguf"):
        from taoke.zoo.export import write_llama_gguf

        return Built(write_llama_gguf(out, cfg, noisy, template_gguf=ctx.gguf, qtype=str(r.params["gguf"])))
    return _write(ctx, out, noisy, cfg.to_hf() | {"torch_dtype": "float16"}, dtype="F16")


def _b_plus_head(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    cfg, st = ctx.smol()
    tok = ctx.tokenizer()
    yes, no = (tok.encode(w, add_special_tokens=False).ids[0] for w in (" yes", " no"))
    emb = st["model.embed_tokens.weight"]
    head = (emb[yes] - emb[no])[None, :].astype(np.float32)  # a zero-shot "yes minus no" reward direction
    conf = cfg.to_hf() | {"architectures": ["LlamaForSequenceClassification"], "num_labels": 1}
    return _write(ctx, out, {**st, "score.weight": head}, conf)


# -- vision-language checkpoints ----------------------------------------------------------------------------------


def _minilm(ctx: BuildContext) -> tuple[dict[str, Any], State]:
    from safetensors.numpy import load_file

    return (json.loads((ctx.minilm / "config.json").read_text()),
            dict(load_file(str(ctx.minilm / "model.safetensors"))))  # fmt: skip


def bert_layer(st: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    p = f"encoder.layer.{i}."
    g = {k: st[p + v] for k, v in {
        "q": "attention.self.query.weight", "qb": "attention.self.query.bias",
        "k": "attention.self.key.weight", "kb": "attention.self.key.bias",
        "v": "attention.self.value.weight", "vb": "attention.self.value.bias",
        "o": "attention.output.dense.weight", "ob": "attention.output.dense.bias",
        "ln1": "attention.output.LayerNorm.weight", "ln1b": "attention.output.LayerNorm.bias",
        "up": "intermediate.dense.weight", "upb": "intermediate.dense.bias",
        "down": "output.dense.weight", "downb": "output.dense.bias",
        "ln2": "output.LayerNorm.weight", "ln2b": "output.LayerNorm.bias"}.items()}  # fmt: skip
    return g


def llama_layer(st: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    p = f"model.layers.{i}."
    return {"q": st[p + "self_attn.q_proj.weight"], "k": st[p + "self_attn.k_proj.weight"],
            "v": st[p + "self_attn.v_proj.weight"], "o": st[p + "self_attn.o_proj.weight"],
            "ln1": st[p + "input_layernorm.weight"], "ln2": st[p + "post_attention_layernorm.weight"],
            "gate": st[p + "mlp.gate_proj.weight"], "up": st[p + "mlp.up_proj.weight"],
            "down": st[p + "mlp.down_proj.weight"]}  # fmt: skip


def clip_tower(layers: list[dict[str, np.ndarray]], emb: np.ndarray, patch: int, n_pos: int,
                final_norm: np.ndarray, pre_norm: tuple[np.ndarray, np.ndarray] | None) -> State:  # fmt: skip
    """A CLIP-named vision tower (``embeddings.*``, ``encoder.layers.*``, ``post_layernorm``) from real layers;
    patch and class embeddings are rows of a real embedding matrix ``emb`` (d columns)."""
    d = emb.shape[1]
    t: State = {
        "embeddings.patch_embedding.weight": np.ascontiguousarray(emb[1000 : 1000 + 3 * patch * patch].T)
        .reshape(d, 3, patch, patch),
        "embeddings.class_embedding": emb[101].copy(),
        "embeddings.position_embedding.weight": emb[2000 : 2000 + n_pos].copy(),
        "post_layernorm.weight": final_norm.copy(),
    }  # fmt: skip
    if pre_norm is not None:
        t["pre_layrnorm.weight"], t["pre_layrnorm.bias"] = pre_norm
    names = {"q": "self_attn.q_proj.weight", "qb": "self_attn.q_proj.bias", "k": "self_attn.k_proj.weight",
             "kb": "self_attn.k_proj.bias", "v": "self_attn.v_proj.weight", "vb": "self_attn.v_proj.bias",
             "o": "self_attn.out_proj.weight", "ob": "self_attn.out_proj.bias", "ln1": "layer_norm1.weight",
             "ln1b": "layer_norm1.bias", "ln2": "layer_norm2.weight", "ln2b": "layer_norm2.bias",
             "up": "mlp.fc1.weight", "upb": "mlp.fc1.bias", "down": "mlp.fc2.weight", "downb": "mlp.fc2.bias"}  # fmt: skip
    for i, layer in enumerate(layers):
        for k, v in layer.items():
            if k in names:
                t[f"encoder.layers.{i}.{names[k]}"] = v
    return t


def llava_state(lm: Mapping[str, np.ndarray], tower: Mapping[str, np.ndarray], proj: Mapping[str, np.ndarray]) -> State:
    out: State = {f"language_model.{k}": v for k, v in lm.items()}
    out |= {f"vision_tower.vision_model.{k}": v for k, v in tower.items()}
    out |= {f"multi_modal_projector.{k}": v for k, v in proj.items()}
    return out


def llava_config(text: Mapping[str, Any], d_vis: int, layers: int, heads: int, ffn: int, patch: int,
                  n_pos: int) -> dict[str, Any]:  # fmt: skip
    side = int(round((n_pos - 1) ** 0.5)) * patch
    return {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "text_config": dict(text),
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": d_vis, "num_hidden_layers": layers,
                              "num_attention_heads": heads, "intermediate_size": ffn, "patch_size": patch,
                              "image_size": side, "hidden_act": "gelu"},
            "projector_hidden_act": "gelu", "vision_feature_layer": -2}  # fmt: skip


def _smol_vlm(ctx: BuildContext) -> tuple[State, dict[str, Any]]:
    cfg, smol = ctx.smol()
    _, mini = _minilm(ctx)
    tower = clip_tower([bert_layer(mini, i) for i in range(6)], mini["embeddings.word_embeddings.weight"], 16, 257,
                        mini["encoder.layer.5.output.LayerNorm.weight"],
                        (mini["embeddings.LayerNorm.weight"], mini["embeddings.LayerNorm.bias"]))  # fmt: skip
    proj = {"linear_1.weight": smol["model.layers.0.mlp.up_proj.weight"][:576, :384].copy(),
            "linear_1.bias": smol["model.layers.0.input_layernorm.weight"].copy(),
            "linear_2.weight": smol["model.layers.1.self_attn.o_proj.weight"].copy(),
            "linear_2.bias": smol["model.layers.1.post_attention_layernorm.weight"].copy()}  # fmt: skip
    conf = llava_config(cfg.to_hf(), 384, 6, 12, 1536, 16, 257)
    return llava_state(smol, tower, proj), conf


def _b_vlm(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    st, conf = _smol_vlm(ctx)
    dtype = str(r.params.get("dtype", "F32"))
    return _write(ctx, out, st, conf | ({"torch_dtype": "bfloat16"} if dtype == "BF16" else {}), dtype=dtype)


#: LLaVA → MiniCPM-V names (the schema of the Llama3-V case): prefix map, then inner renames of the connector
_TO_MINICPMV = (("language_model.", "llm."), ("vision_tower.vision_model.pre_layrnorm.", "vpm.pre_layernorm."),
                ("vision_tower.vision_model.", "vpm."),
                ("multi_modal_projector.linear_1.", "resampler.kv_proj."),
                ("multi_modal_projector.linear_2.", "resampler.attn.out_proj."))  # fmt: skip


def to_minicpmv(state: Mapping[str, np.ndarray]) -> State:
    """A LLaVA-named state under MiniCPM-V names (``llm.``, ``vpm.``, ``resampler.``)."""
    out: State = {}
    for k, v in state.items():
        new = next((n + k[len(o):] for o, n in _TO_MINICPMV if k.startswith(o)), k)
        out[new] = v
    return out


def _b_minicpmv(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    st, conf = _smol_vlm(ctx)
    st = to_minicpmv(st)
    if r.params.get("noise"):
        st = noise_matrices(st, float(r.params["noise"]), rng)
    text = conf["text_config"]
    mconf = dict(text) | {"model_type": "minicpmv", "architectures": ["MiniCPMV"], "query_num": 64,
                          "vision_config": conf["vision_config"] | {"model_type": "siglip_vision_model"}}  # fmt: skip
    return _write(ctx, out, st, mconf, dtype=str(r.params.get("dtype", "F16")))


def _b_tiny_vlm(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    lm_name, vis_name = r.params["lm"], r.params["vision"]
    cfg, lm = ctx.load_hf(str(lm_name))
    vcfg, vis = ctx.load_hf(str(vis_name))
    layers = [llama_layer(vis, i) for i in range(vcfg.num_layers)]
    emb = vis["model.embed_tokens.weight"]
    tower = clip_tower(layers, emb, 8, 65, vis["model.norm.weight"], None)
    proj = {"linear_1.weight": vis["model.layers.0.self_attn.q_proj.weight"].copy(),
            "linear_2.weight": vis["model.layers.0.self_attn.o_proj.weight"].copy()}  # fmt: skip
    conf = llava_config(cfg.to_hf(), vcfg.hidden_size, vcfg.num_layers, vcfg.num_heads, vcfg.intermediate_size, 8, 65)
    return _write(ctx, out, llava_state(lm, tower, proj), conf, tokenizer=ctx.tokenizer(cfg.vocab_size).to_str())


# -- encoder-decoder (T5) -----------------------------------------------------------------------------------------


def _t5_block(layer: Mapping[str, np.ndarray], *, decoder: bool, cross: Mapping[str, np.ndarray] | None,
              gated: bool) -> State:  # fmt: skip
    sa = "layer.0.SelfAttention."
    b: State = {sa + "q.weight": layer["q"], sa + "k.weight": layer["k"], sa + "v.weight": layer["v"],
                sa + "o.weight": layer["o"], "layer.0.layer_norm.weight": layer["ln1"]}  # fmt: skip
    ff = "layer.2." if decoder else "layer.1."
    if decoder:
        assert cross is not None
        xa = "layer.1.EncDecAttention."
        b |= {xa + "q.weight": cross["q"], xa + "k.weight": cross["k"], xa + "v.weight": cross["v"],
              xa + "o.weight": cross["o"], "layer.1.layer_norm.weight": cross["ln1"]}  # fmt: skip
    if gated:
        b |= {ff + "DenseReluDense.wi_0.weight": layer["gate"], ff + "DenseReluDense.wi_1.weight": layer["up"]}
    else:
        b[ff + "DenseReluDense.wi.weight"] = layer["up"]
    b |= {ff + "DenseReluDense.wo.weight": layer["down"], ff + "layer_norm.weight": layer["ln2"]}
    return b


def t5_state(enc: list[dict[str, np.ndarray]], dec: list[dict[str, np.ndarray]], cross: list[dict[str, np.ndarray]],
        shared: np.ndarray, enc_norm: np.ndarray, dec_norm: np.ndarray, rel: tuple[np.ndarray, np.ndarray], *,
        gated: bool) -> State:  # fmt: skip
    st: State = {"shared.weight": shared}
    for i, layer in enumerate(enc):
        st |= {f"encoder.block.{i}.{k}": v for k, v in _t5_block(layer, decoder=False, cross=None, gated=gated).items()}
    for j, layer in enumerate(dec):
        blk = _t5_block(layer, decoder=True, cross=cross[j], gated=gated)
        st |= {f"decoder.block.{j}.{k}": v for k, v in blk.items()}
    st["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = rel[0]
    st["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = rel[1]
    st["encoder.final_layer_norm.weight"] = enc_norm
    st["decoder.final_layer_norm.weight"] = dec_norm
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in st.items()}


def t5_config(d: int, ffn: int, enc: int, dec: int, heads: int, vocab: int, gated: bool) -> dict[str, Any]:
    return {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_model": d, "d_ff": ffn,
            "num_layers": enc, "num_decoder_layers": dec, "num_heads": heads, "d_kv": d // heads,
            "vocab_size": vocab, "feed_forward_proj": "gated-gelu" if gated else "relu",
            "tie_word_embeddings": True, "relative_attention_num_buckets": 32}  # fmt: skip


def _minilm_t5(ctx: BuildContext) -> tuple[State, dict[str, Any]]:
    _, mini = _minilm(ctx)
    layers = [bert_layer(mini, i) for i in range(6)]
    pos = mini["embeddings.position_embeddings.weight"]
    st = t5_state(layers, layers[3:], layers[::-1][:3], mini["embeddings.word_embeddings.weight"],
             mini["embeddings.LayerNorm.weight"], mini["encoder.layer.2.output.LayerNorm.weight"],
             (pos[:32, :12], pos[32:64, :12]), gated=False)  # fmt: skip
    return st, t5_config(384, 1536, 6, 3, 12, 30522, False)


def _b_t5(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    st, conf = _minilm_t5(ctx)
    if r.params.get("noise"):
        st = noise_matrices(st, float(r.params["noise"]), rng)
    return _write(ctx, out, st, conf, dtype=str(r.params.get("dtype", "F32")),
                  tokenizer=(ctx.minilm / "tokenizer.json").read_text())


def _b_tiny_t5(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    ecfg, enc = ctx.load_hf(str(r.params["encoder"]))
    _, dec = ctx.load_hf(str(r.params["decoder"]))
    el = [llama_layer(enc, i) for i in range(ecfg.num_layers)]
    dl = [llama_layer(dec, i) for i in range(ecfg.num_layers)]
    emb = enc["model.embed_tokens.weight"]
    st = t5_state(el, dl, dl[::-1], emb, enc["model.norm.weight"], dec["model.norm.weight"],
             (emb[:32, :4], dec["model.embed_tokens.weight"][:32, :4]), gated=True)  # fmt: skip
    conf = t5_config(ecfg.hidden_size, ecfg.intermediate_size, ecfg.num_layers, ecfg.num_layers, ecfg.num_heads,
                      ecfg.vocab_size, True)  # fmt: skip
    return _write(ctx, out, st, conf, tokenizer=ctx.tokenizer(ecfg.vocab_size).to_str())


# -- the table ----------------------------------------------------------------------------------------------------

Q4 = "smollm2-q4_1"
_TINY_VLMS = (("tiny-vlm-a", "tiny-0", "tiny-1"), ("tiny-vlm-b", "tiny-2", "tiny-3"), ("tiny-vlm-c", "tiny-4", "tiny-5"))

register(
    Recipe("smollm2-bf16", _b_bf16, base=Q4, relation="repackaged", transform="dequantise-bf16", group=SMOL_GROUP,
           subset="full"),
    *(Recipe(f"smollm2-q4-noise-{s}", _b_q4_noise, base=Q4, relation="derived", transform="dequantise+noise-f16",
             group=SMOL_GROUP, params={"scale": s}, subset="full") for s in (0.1, 0.015, 0.003, 0.001)),
    Recipe("smollm2-q4-noise-0.015-q8_0", _b_q4_noise, base=Q4, relation="derived",
           transform="dequantise+noise+requantise-q8_0", group=SMOL_GROUP, params={"scale": 0.015, "gguf": "Q8_0"},
           subset="full", format="gguf"),
    Recipe("smollm2-plus-head", _b_plus_head, base=Q4, relation="derived", transform="added-module",
           group=SMOL_GROUP, subset="full"),
    Recipe("vlm-llava", _b_vlm, base=Q4, relation="derived", transform="added-vision-tower+projector",
           group=VLM_GROUP, subset="full"),
    Recipe("vlm-llava-bf16", _b_vlm, base="vlm-llava", relation="repackaged", transform="vlm-cast-bf16",
           group=VLM_GROUP, params={"dtype": "BF16"}, subset="full"),
    Recipe("vlm-minicpmv-renamed", _b_minicpmv, base="vlm-llava", relation="repackaged",
           transform="vlm-rename-schema-f16", group=VLM_GROUP, params={"dtype": "F16"}, subset="full"),
    Recipe("vlm-minicpmv-copy", _b_minicpmv, base="vlm-llava", relation="derived",
           transform="vlm-rename-schema+noise (Llama3-V case)", group=VLM_GROUP,
           params={"dtype": "F16", "noise": 0.015}, subset="full"),
    *(Recipe(n, _b_tiny_vlm, base=None, relation="independent", transform="vlm-independent-parts",
             group=TINY_VLM_GROUP, params={"lm": lm, "vision": vis}, subset="full", needs=(lm, vis))
      for n, lm, vis in _TINY_VLMS),
    Recipe("t5-minilm", _b_t5, base="minilm", relation="derived", transform="assemble-t5-from-encoder",
           group=T5_GROUP, subset="full"),
    Recipe("t5-minilm-f16", _b_t5, base="t5-minilm", relation="repackaged", transform="t5-cast-f16", group=T5_GROUP,
           params={"dtype": "F16"}, subset="full"),
    Recipe("t5-minilm-noise", _b_t5, base="t5-minilm", relation="derived", transform="t5-noise", group=T5_GROUP,
           params={"dtype": "F16", "noise": 0.01}, subset="full"),
    Recipe("t5-tiny-a", _b_tiny_t5, base=None, relation="independent", transform="t5-independent-parts",
           group=TINY_T5_GROUP, params={"encoder": "tiny-0", "decoder": "tiny-1"}, subset="full",
           needs=("tiny-0", "tiny-1")),
    Recipe("t5-tiny-b", _b_tiny_t5, base=None, relation="independent", transform="t5-independent-parts",
           group=TINY_T5_GROUP, params={"encoder": "tiny-2", "decoder": "tiny-3"}, subset="full",
           needs=("tiny-2", "tiny-3")),
)  # fmt: skip
