"""The core zoo entries: real models made from the two real bases of the core data set (SmolLM2-135M-Instruct,
all-MiniLM-L6-v2) by real transformations and short real training; what each is for is in ``docs/zoo.md``.

Bases: SmolLM2-135M-Instruct (the real Q4_1 GGUF, dequantised, Q/K rotary permutation undone) and
all-MiniLM-L6-v2 (the real safetensors). The transformations are in :mod:`taoke.zoo.transforms`; training (the
fine-tunes and the independently trained small Llamas) is in :mod:`taoke.zoo.train` on the real text of
:mod:`taoke.zoo.corpus`. The table at the end registers them (:mod:`taoke.zoo.recipes`), in build order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from taoke.zoo.recipes import BuildContext, Built, Original, Recipe, register, register_original

SMOLLM2_GGUF = "weights/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIR = "weights/all-minilm-l6-v2"
GEMMA3_GGUF = "weights/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf"  # an unrelated real model (--all data set)
SMOL_GROUP = "smollm2-135m"
TINY_GROUP = "tiny-llama-d128-l4"
MINILM_GROUP = "minilm-l6-h384"

N_SLICES = 8  # 0..5: independent tiny models, 6: fine-tunes, 7: continued pre-training
FINETUNE_SLICE = 6
CONTINUED_SLICE = 7
TINY_VOCAB = 8192


def _tok_json(ctx: BuildContext, vocab_size: int | None = None) -> str:
    return ctx.tokenizer(vocab_size).to_str()


def _write_llama(ctx: BuildContext, out: Path, cfg: Any, state: Mapping[str, np.ndarray], **kw: Any) -> Path:
    from taoke.zoo.export import write_hf_folder

    tok = kw.pop("tokenizer_json", _tok_json(ctx))
    config = kw.pop("config", None) or cfg.to_hf()
    return write_hf_folder(out, state, config, tokenizer_json=tok, **kw)


def _b_f32(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.export import read_llama_gguf

    cfg, st = read_llama_gguf(ctx.gguf)
    ctx.cache["smol"] = (cfg, st)
    return Built(_write_llama(ctx, out, cfg, st))


def _b_f16(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    cfg, st = ctx.smol()
    conf = cfg.to_hf() | {"torch_dtype": "float16"}
    return Built(_write_llama(ctx, out, cfg, st, dtype="F16", config=conf))


def _b_renamed(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import rename_opaque, transpose_2d

    cfg, st = ctx.smol()
    named, mapping = rename_opaque(st, rng)
    if r.params.get("transpose"):
        named = transpose_2d(named)
    (out).mkdir(parents=True, exist_ok=True)
    (out / "names.json").write_text(json.dumps(mapping, indent=0) + "\n")
    return Built(_write_llama(ctx, out, cfg, named), {"name_map_file": "names.json"})


def _b_q8(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.export import write_llama_gguf

    cfg, st = ctx.smol()
    return Built(write_llama_gguf(out, cfg, st, template_gguf=ctx.gguf, qtype=str(r.params["qtype"])))


def _b_noise(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import add_noise

    cfg, st = ctx.smol()
    return Built(_write_llama(ctx, out, cfg, add_noise(st, float(r.params["scale"]), rng)))


def _b_perm(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import permute_llama

    cfg, st = ctx.load_hf(r.base) if r.base != "smollm2-f32" else ctx.smol()  # type: ignore[arg-type]
    new, rec = permute_llama(cfg, st, rng)
    out.mkdir(parents=True, exist_ok=True)
    (out / "permutation.json").write_text(json.dumps(rec) + "\n")
    return Built(_write_llama(ctx, out, cfg, new), {"permutation_file": "permutation.json"})


def _b_rotate(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import rotate_llama

    cfg, st = ctx.smol()
    cfg2, new, q = rotate_llama(cfg, st, rng)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "rotation.npy", q)
    return Built(_write_llama(ctx, out, cfg2, new), {"rotation_file": "rotation.npy"})


def _b_rescale(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import rescale_llama

    cfg, st = ctx.smol()
    new, rec = rescale_llama(cfg, st, rng, spread=float(r.params["spread"]))
    return Built(_write_llama(ctx, out, cfg, new), {"factors": rec})


def _b_layers(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import remap_layers

    cfg, st = ctx.smol()
    if r.params.get("keep") is not None:
        n, keep = cfg.num_layers, int(r.params["keep"])
        dropped = rng.choice(np.arange(1, n - 1), size=n - keep, replace=False)  # first and last layer kept
        layer_map = [i for i in range(n) if i not in set(dropped.tolist())]
    else:
        layer_map = [int(x) for x in r.params["layer_map"]]
    cfg2, new = remap_layers(cfg, st, layer_map)
    return Built(_write_llama(ctx, out, cfg2, new), {}, tuple(layer_map))


def _b_vocab_prune(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import prune_vocab

    cfg, st = ctx.smol()
    first, sample = int(r.params["first"]), int(r.params["sample"])
    extra = np.sort(rng.choice(np.arange(first, cfg.vocab_size), size=sample, replace=False))
    keep = np.concatenate([np.arange(first), extra])
    cfg2, new = prune_vocab(cfg, st, keep)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kept_ids.json").write_text(json.dumps(keep.tolist()) + "\n")
    return Built(_write_llama(ctx, out, cfg2, new, tokenizer_json=None), {"kept_ids_file": "kept_ids.json"})


def _b_vocab_extend(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import extend_vocab

    cfg, st = ctx.smol()
    cfg2, new = extend_vocab(cfg, st, int(r.params["n_new"]))
    return Built(_write_llama(ctx, out, cfg2, new, tokenizer_json=None))


def _b_merge(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import merge

    cfg, st = ctx.smol()
    _, other = ctx.load_hf(str(r.params["other"]))
    return Built(_write_llama(ctx, out, cfg, merge(st, other, float(r.params["alpha"]))))


def _b_moe(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import mixtral_config, upcycle_moe

    cfg, st = ctx.smol()
    k = int(r.params["experts"])
    new = upcycle_moe(cfg, st, rng, n_experts=k, noise=float(r.params["noise"]))
    conf = mixtral_config(cfg, k) | {"torch_dtype": "float16"}
    return Built(_write_llama(ctx, out, cfg, new, config=conf, dtype=str(r.params["dtype"])))


def _b_stdmatched(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import std_matched

    cfg, st = ctx.smol()
    return Built(_write_llama(ctx, out, cfg, std_matched(st, rng)))


def _b_finetune(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.train import build_model, state_of, train_lm

    cfg, st = ctx.smol()
    p = r.params
    first = cfg.num_layers - int(p["top_layers"])
    model = build_model(cfg, st)
    res = train_lm(
        model,
        ctx.tokens(f"slice-{p['slice']}"),
        steps=int(p["steps"]),
        batch_size=int(p["batch"]),
        seq_len=int(p["seq_len"]),
        lr=float(p["lr"]),
        rng=rng,
        trainable=lambda n: n == "model.norm.weight" or _layer_index(n) >= first,
        first_trainable_layer=first,
        pool_windows=int(p["pool"]),
        progress=ctx.log,
        held_out=ctx.tokens("held")[: int(p["held_out_tokens"])],
    )
    ctx.log(
        f"  trained {res.steps} steps in {res.seconds:.1f}s, held-out {res.held_out_before:.3f} -> {res.held_out_after:.3f}"
    )
    return Built(_write_llama(ctx, out, cfg, state_of(model)), {"result": res.to_dict()})


def _b_tiny(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.train import LlamaConfig, build_model, state_of, train_lm

    p = r.params
    cfg = LlamaConfig(**p["config"])
    model = build_model(cfg, seed=int(rng.integers(0, 2**31 - 1)))
    res = train_lm(
        model,
        ctx.tokens(f"slice-{p['slice']}", cfg.vocab_size),
        steps=int(p["steps"]),
        batch_size=int(p["batch"]),
        seq_len=int(p["seq_len"]),
        lr=float(p["lr"]),
        rng=rng,
        warmup=20,
        progress=ctx.log,
        held_out=ctx.tokens("held", cfg.vocab_size)[: int(p["held_out_tokens"])],
    )
    ctx.log(
        f"  trained {res.steps} steps in {res.seconds:.1f}s, held-out {res.held_out_before:.3f} -> {res.held_out_after:.3f}"
    )
    return Built(
        _write_llama(ctx, out, cfg, state_of(model), tokenizer_json=_tok_json(ctx, cfg.vocab_size)),
        {"result": res.to_dict()},
    )


def _minilm_state(ctx: BuildContext) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    conf = json.loads((ctx.minilm / "config.json").read_text())
    return conf, dict(load_file(str(ctx.minilm / "model.safetensors")))


def _write_minilm(ctx: BuildContext, out: Path, conf: Mapping[str, Any], st: Mapping[str, np.ndarray]) -> Path:
    from taoke.zoo.export import write_hf_folder

    tok = (ctx.minilm / "tokenizer.json").read_text()
    return write_hf_folder(out, st, conf, tokenizer_json=tok)


def _b_minilm_noise(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import add_noise

    conf, st = _minilm_state(ctx)
    return Built(_write_minilm(ctx, out, conf, add_noise(st, float(r.params["scale"]), rng)))


def _b_minilm_perm(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import permute_bert

    conf, st = _minilm_state(ctx)
    new, rec = permute_bert(
        st, num_layers=int(conf["num_hidden_layers"]), num_heads=int(conf["num_attention_heads"]), rng=rng
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "permutation.json").write_text(json.dumps(rec) + "\n")
    return Built(_write_minilm(ctx, out, conf, new), {"permutation_file": "permutation.json"})


def _layer_index(name: str) -> int:
    parts = name.split(".")
    return int(parts[2]) if len(parts) > 2 and parts[1] == "layers" else -1


TINY_CONFIG = {
    "vocab_size": TINY_VOCAB,
    "hidden_size": 128,
    "num_layers": 4,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 384,
    "rope_theta": 10000.0,
    "tie_embeddings": True,
    "max_position": 512,
}
TINY_TRAIN = {"steps": 150, "batch": 4, "seq_len": 48, "lr": 3e-3, "held_out_tokens": 4096}
FINETUNE = {
    "slice": FINETUNE_SLICE,
    "top_layers": 2,
    "steps": 150,
    "batch": 2,
    "seq_len": 48,
    "pool": 96,  # windows; ~3 passes over them (the first version, 16 windows x 25 passes, over-fitted)
    "lr": 5e-5,
    "held_out_tokens": 8 * 128 + 1,
}
CONTINUED = FINETUNE | {"slice": CONTINUED_SLICE, "top_layers": 4, "steps": 300, "pool": 150, "lr": 3e-5}


# -- the table ------------------------------------------------------------------------------------------------

F32 = "smollm2-f32"

register_original(
    Original("smollm2-q4_1", SMOLLM2_GGUF, "gguf", SMOL_GROUP, "SmolLM2 GGUF"),
    Original("minilm", MINILM_DIR, "hf", MINILM_GROUP, "all-MiniLM-L6-v2", reference=True),
)
register(
    Recipe("smollm2-f32", _b_f32, base="smollm2-q4_1", relation="repackaged", transform="dequantise+hf-names",
           group=SMOL_GROUP, reference=True),
    Recipe("smollm2-renamed", _b_renamed, base=F32, relation="repackaged", transform="rename", group=SMOL_GROUP),
    Recipe("smollm2-transposed", _b_renamed, base=F32, relation="repackaged", transform="transpose+rename",
           group=SMOL_GROUP, params={"transpose": True}),
    *(Recipe(f"smollm2-noise-{s}", _b_noise, base=F32, relation="derived", transform="noise", group=SMOL_GROUP,
             params={"scale": s}) for s in (0.01, 0.1, 0.3)),
    Recipe("smollm2-perm", _b_perm, base=F32, relation="derived", transform="permute-units+heads", group=SMOL_GROUP),
    Recipe("smollm2-rotate", _b_rotate, base=F32, relation="derived", transform="rotate-residual+fold-norms",
           group=SMOL_GROUP),
    Recipe("smollm2-layer-subset", _b_layers, base=F32, relation="derived", transform="layer-subset",
           group=SMOL_GROUP, params={"keep": 20}),
    Recipe("smollm2-finetune", _b_finetune, base=F32, relation="derived", transform="finetune-top-layers",
           group=SMOL_GROUP, params=FINETUNE),
    Recipe("smollm2-stdmatched", _b_stdmatched, base=F32, relation="independent", transform="std-matched-random",
           group=SMOL_GROUP),
    Recipe("minilm-noise", _b_minilm_noise, base="minilm", relation="derived", transform="noise",
           group=MINILM_GROUP, params={"scale": 0.1}),
    Recipe("minilm-perm", _b_minilm_perm, base="minilm", relation="derived", transform="permute-units+heads",
           group=MINILM_GROUP),
    *(Recipe(f"tiny-{k}", _b_tiny, base=None, relation="independent", transform="train-from-scratch",
             group=TINY_GROUP, params={"config": TINY_CONFIG, "slice": k, "seed_index": k} | TINY_TRAIN,
             subset="fast" if k < 4 else "full") for k in range(6)),
    Recipe("smollm2-q8_0", _b_q8, base=F32, relation="repackaged", transform="requantise-gguf", group=SMOL_GROUP,
           params={"qtype": "Q8_0"}, subset="full", format="gguf"),
    Recipe("smollm2-f16", _b_f16, base=F32, relation="repackaged", transform="cast-f16", group=SMOL_GROUP,
           subset="full"),
    Recipe("smollm2-rescale", _b_rescale, base=F32, relation="derived", transform="rescale-layers",
           group=SMOL_GROUP, params={"spread": 2.0}, subset="full"),
    Recipe("smollm2-layer-dup", _b_layers, base=F32, relation="derived", transform="layer-duplication",
           group=SMOL_GROUP, params={"layer_map": list(range(0, 20)) + list(range(10, 30))}, subset="full"),
    Recipe("smollm2-vocab-prune", _b_vocab_prune, base=F32, relation="derived", transform="vocab-prune",
           group=SMOL_GROUP, params={"first": 20000, "sample": 4000}, subset="full"),
    Recipe("smollm2-vocab-extend", _b_vocab_extend, base=F32, relation="derived", transform="vocab-extend",
           group=SMOL_GROUP, params={"n_new": 1024}, subset="full"),
    Recipe("smollm2-continued", _b_finetune, base=F32, relation="derived", transform="continued-pretraining",
           group=SMOL_GROUP, params=CONTINUED, subset="full"),
    Recipe("smollm2-finetune-perm", _b_perm, base="smollm2-finetune", relation="derived",
           transform="permute-units+heads", group=SMOL_GROUP, subset="full", needs=("smollm2-finetune",)),
    Recipe("smollm2-merge", _b_merge, base=F32, relation="derived", transform="linear-merge", group=SMOL_GROUP,
           params={"other": "smollm2-finetune", "alpha": 0.5}, subset="full", needs=("smollm2-finetune",)),
    Recipe("smollm2-moe-upcycle", _b_moe, base=F32, relation="derived", transform="moe-upcycle", group=SMOL_GROUP,
           params={"experts": 4, "noise": 0.01, "dtype": "F16"}, subset="full"),
)  # fmt: skip
