"""Zoo entries for ancestor search (issue 15): derivatives an index search must not lose, from real bases.

Each kind is built twice: from ``tiny-0`` (an independently trained 4-layer Llama of the core zoo; the fast subset,
so the tests find every kind from an index in seconds) and from the real SmolLM2-135M-Instruct (``smollm2-f32``;
the full subset, for ``benchmarks/index``). The kinds the core zoo lacked:

* ``interleave`` — depth changed by interleaving: the layers of the base and of a second derivative of it
  alternate, with repeats (a "frankenmerge" passthrough stack; ``layer_map`` records the base layer of each);
* ``mlp-prune`` — width changed inside the MLP: each layer keeps its units with the largest
  ``‖gate_u‖·‖up_u‖·‖down_u‖`` (magnitude pruning, as LLM-Pruner / Minitron's width axis do by importance);
* ``width-prune`` — the residual stream narrowed: the channels with the smallest embedding-column norm are dropped
  from every matrix that reads or writes the residual and from the norm gains (Minitron's embedding-channel
  pruning, arXiv:2407.14679, with weight magnitude instead of activations); heads keep their size;
* ``opaque`` — tensors renamed to an unknown schema (``trunk.{i}.mix.a`` ...), a config whose keys no reader knows,
  no tokenizer files, and Gaussian noise (σ = 0.01·std) so no sample is bit-identical;
* ``no-tokenizer`` — a noised copy (σ = 0.01·std) shipped with standard names and config but no tokenizer files;
* ``transplant`` — the vocabulary transplanted: the Mistral-7B tokenizer of the core data set (32000 SentencePiece
  tokens, ``tokenizers/llama2``) with new embeddings on the old body; each new token's row starts as the mean of
  the old rows of its pieces under the old tokenizer (the heuristic of mergekit's tokensurgeon and of FOCUS,
  arXiv:2305.14481) and the embeddings are then trained on real text with the body frozen;
* ``rotate-perm`` — residual rotation (norms folded) and a unit/head permutation together (function-preserving).

Ground truth: every entry is ``derived`` from its base. The tiny line also gets the kinds the core zoo has for
SmolLM2 only (``moe``, ``merge``, ``layer-subset``, ``layer-dup``: plans of the interleave builder over the base alone),
so the fast tests cover them too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from taoke.zoo.recipes import BuildContext, Built, Recipe, register

TINY_BASE = "tiny-0"
SMOL_BASE = "smollm2-f32"
TINY_GROUP = "tiny-llama-d128-l4"
SMOL_GROUP = "smollm2-135m"
TRANSPLANT_TOKENIZER = "tokenizers/llama2/tokenizer.json"  # Mistral-7B-v0.1's tokenizer (MANIFEST R6)

_P = "model.layers.{}."


# -- transforms (pure numpy on Hugging Face-named Llama state dicts) ----------------------------------------------


def interleave_layers(cfg: Any, sources: Sequence[Mapping[str, np.ndarray]],
                      plan: Sequence[tuple[int, int]]) -> tuple[Any, dict[str, np.ndarray]]:  # fmt: skip
    """New layer ``j`` is layer ``plan[j][1]`` of ``sources[plan[j][0]]``; embeddings and head of ``sources[0]``."""
    first = sources[0]
    out: dict[str, np.ndarray] = {"model.embed_tokens.weight": first["model.embed_tokens.weight"]}
    for j, (s, k) in enumerate(plan):
        src, dst = _P.format(k), _P.format(j)
        for n, a in sources[s].items():
            if n.startswith(src):
                out[dst + n[len(src) :]] = a.copy()
    for n in ("model.norm.weight", "lm_head.weight"):
        if n in first:
            out[n] = first[n]
    return replace(cfg, num_layers=len(plan)), out


def prune_mlp(cfg: Any, state: Mapping[str, np.ndarray], keep: int) -> tuple[Any, dict[str, np.ndarray], list[list[int]]]:
    """Keep each layer's ``keep`` units of largest ``‖gate_u‖·‖up_u‖·‖down_u‖``; returns (config, state, kept)."""
    out = dict(state)
    kept: list[list[int]] = []
    for i in range(cfg.num_layers):
        p = _P.format(i)
        g, u, d = (state[p + f"mlp.{n}_proj.weight"] for n in ("gate", "up", "down"))
        imp = (np.linalg.norm(g.astype(np.float64), axis=1) * np.linalg.norm(u.astype(np.float64), axis=1)
               * np.linalg.norm(d.astype(np.float64), axis=0))  # fmt: skip
        sel = np.sort(np.argsort(-imp, kind="stable")[:keep])
        out[p + "mlp.gate_proj.weight"] = np.ascontiguousarray(g[sel])
        out[p + "mlp.up_proj.weight"] = np.ascontiguousarray(u[sel])
        out[p + "mlp.down_proj.weight"] = np.ascontiguousarray(d[:, sel])
        kept.append(sel.tolist())
    return replace(cfg, intermediate_size=keep), out, kept


_READS_RESIDUAL = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "gate_proj.weight", "up_proj.weight")
_WRITES_RESIDUAL = ("o_proj.weight", "down_proj.weight")


def prune_width(cfg: Any, state: Mapping[str, np.ndarray], keep: int) -> tuple[Any, dict[str, np.ndarray], list[int]]:
    """Keep the ``keep`` residual channels of largest embedding-column norm; returns (config, state, channels)."""
    emb = state["model.embed_tokens.weight"].astype(np.float64)
    sel = np.sort(np.argsort(-np.linalg.norm(emb, axis=0), kind="stable")[:keep])
    out: dict[str, np.ndarray] = {}
    for n, a in state.items():
        if n in ("model.embed_tokens.weight", "lm_head.weight") or n.endswith(_READS_RESIDUAL):
            out[n] = np.ascontiguousarray(a[:, sel])
        elif n.endswith("norm.weight"):
            out[n] = np.ascontiguousarray(a[sel])
        elif n.endswith(_WRITES_RESIDUAL):
            out[n] = np.ascontiguousarray(a[sel, :])
        else:
            out[n] = a
    return replace(cfg, hidden_size=keep), out, sel.tolist()


_OPAQUE = (("model.layers.", "trunk."), ("self_attn.q_proj.weight", "mix.a"), ("self_attn.k_proj.weight", "mix.b"),
           ("self_attn.v_proj.weight", "mix.c"), ("self_attn.o_proj.weight", "mix.d"), ("mlp.gate_proj.weight", "ff.x"),
           ("mlp.up_proj.weight", "ff.y"), ("mlp.down_proj.weight", "ff.z"), ("post_attention_layernorm.weight", "n2"),
           ("input_layernorm.weight", "n1"), ("model.embed_tokens.weight", "lex"), ("model.norm.weight", "nf"),
           ("lm_head.weight", "out"))  # fmt: skip


def opaque_names(state: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Rename every tensor to a schema no alias table knows; returns (state, old → new)."""
    mapping = {}
    for n in state:
        new = n
        for a, b in _OPAQUE:
            new = new.replace(a, b)
        mapping[n] = new
    return {mapping[n]: a for n, a in state.items()}, mapping


def opaque_config(cfg: Any) -> dict[str, Any]:
    """A config.json with keys no reader maps (the architecture must be inferred from the tensors)."""
    return {"model_type": "acme-lm", "arch": "AcmeBlockStack", "dim": cfg.hidden_size, "depth": cfg.num_layers,
            "n_q": cfg.num_heads, "n_kv": cfg.num_kv_heads, "ffn": cfg.intermediate_size, "lex": cfg.vocab_size,
            "theta": cfg.rope_theta}  # fmt: skip


def _piece_text(tok: str) -> str | None:
    """The text a SentencePiece token stands for (``▁`` is a space; a byte-fallback token is its byte)."""
    if tok.startswith("<0x") and tok.endswith(">") and len(tok) == 6:
        b = int(tok[3:5], 16)
        return chr(b) if b < 128 else None
    if tok.startswith("<") and tok.endswith(">"):
        return None  # control tokens
    return tok.replace("▁", " ")


def transplant_embeddings(old_emb: np.ndarray, old_tok: Any, new_vocab: Sequence[str],
                          rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """New embedding rows: the mean of the old rows of each new token's pieces under the old tokenizer (tokens the
    old one cannot spell get the mean row plus noise of a tenth of the rows' std)."""
    mean = old_emb.mean(axis=0)
    sd = float(old_emb.std())
    texts = [_piece_text(t) for t in new_vocab]
    todo = [i for i, t in enumerate(texts) if t]
    encs = old_tok.encode_batch([texts[i] for i in todo], add_special_tokens=False)
    out = np.empty((len(new_vocab), old_emb.shape[1]), dtype=np.float32)
    out[:] = mean + (0.1 * sd) * rng.standard_normal(out.shape).astype(np.float32)
    n = old_emb.shape[0]
    for i, e in zip(todo, encs, strict=True):
        ids = [x for x in e.ids if 0 <= x < n]
        if ids:
            out[i] = old_emb[ids].mean(axis=0)
    return out


# -- builders -----------------------------------------------------------------------------------------------


def _base(ctx: BuildContext, name: str) -> tuple[Any, dict[str, np.ndarray]]:
    return ctx.smol() if name == SMOL_BASE else ctx.load_hf(name)


def _tok_json(ctx: BuildContext, base: str) -> str:
    return (ctx.dest / base / "tokenizer.json").read_text()


def _write(ctx: BuildContext, out: Path, state: Mapping[str, np.ndarray], config: Mapping[str, Any],
           tokenizer_json: str | None, files: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    from taoke.zoo.export import write_hf_folder

    out.mkdir(parents=True, exist_ok=True)
    for fname, doc in (files or {}).items():
        (out / fname).write_text(json.dumps(doc) + "\n")
    return write_hf_folder(out, state, config, tokenizer_json=tokenizer_json)


def _b_interleave(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import add_noise

    base = str(r.base)
    cfg, st = _base(ctx, base)
    other = ctx.load_hf(str(r.params["other"]))[1] if r.params.get("other") else add_noise(st, 0.05, rng)
    plan = [tuple(x) for x in r.params["plan"]]
    cfg2, new = interleave_layers(cfg, [st, other], plan)  # type: ignore[arg-type]
    _write(ctx, out, new, cfg2.to_hf(), _tok_json(ctx, base), {"plan.json": plan})
    return Built(out / "model.safetensors", {"plan_file": "plan.json"}, tuple(k for _s, k in plan))


def _b_mlp_prune(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    base = str(r.base)
    cfg, st = _base(ctx, base)
    cfg2, new, kept = prune_mlp(cfg, st, int(r.params["keep"]))
    _write(ctx, out, new, cfg2.to_hf(), _tok_json(ctx, base), {"kept_units.json": kept})
    return Built(out / "model.safetensors", {"kept_units_file": "kept_units.json"})


def _b_width_prune(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    base = str(r.base)
    cfg, st = _base(ctx, base)
    cfg2, new, kept = prune_width(cfg, st, int(r.params["keep"]))
    conf = cfg2.to_hf() | {"head_dim": cfg.head_dim}  # heads keep their size
    _write(ctx, out, new, conf, _tok_json(ctx, base), {"kept_channels.json": kept})
    return Built(out / "model.safetensors", {"kept_channels_file": "kept_channels.json"})


def _b_opaque(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import add_noise

    cfg, st = _base(ctx, str(r.base))
    named, mapping = opaque_names(add_noise(st, float(r.params["noise"]), rng))
    _write(ctx, out, named, opaque_config(cfg), None, {"names.json": mapping})
    return Built(out / "model.safetensors", {"name_map_file": "names.json"})


def _b_no_tokenizer(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import add_noise

    cfg, st = _base(ctx, str(r.base))
    return Built(_write(ctx, out, add_noise(st, float(r.params["noise"]), rng), cfg.to_hf(), None))


def _b_rotate_perm(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import permute_llama, rotate_llama

    base = str(r.base)
    cfg, st = _base(ctx, base)
    cfg2, rot, q = rotate_llama(cfg, st, rng)
    new, rec = permute_llama(cfg2, rot, rng)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "rotation.npy", q)
    _write(ctx, out, new, cfg2.to_hf(), _tok_json(ctx, base), {"permutation.json": rec})
    return Built(out / "model.safetensors", {"rotation_file": "rotation.npy", "permutation_file": "permutation.json"})


def _b_moe(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import mixtral_config, upcycle_moe

    base = str(r.base)
    cfg, st = _base(ctx, base)
    k = int(r.params["experts"])
    new = upcycle_moe(cfg, st, rng, n_experts=k, noise=float(r.params["noise"]))
    return Built(_write(ctx, out, new, mixtral_config(cfg, k), _tok_json(ctx, base)))


def _finetuned(ctx: BuildContext, cfg: Any, st: Mapping[str, np.ndarray], rng: np.random.Generator,
               p: Mapping[str, Any]) -> dict[str, np.ndarray]:  # fmt: skip
    """``st`` after a short fine-tune of all weights on a corpus slice (tokenised to the base's vocabulary)."""
    from taoke.zoo.train import build_model, state_of, train_lm

    model = build_model(cfg, st)
    res = train_lm(model, ctx.tokens(f"slice-{p['slice']}", cfg.vocab_size), steps=int(p["steps"]),
                   batch_size=int(p["batch"]), seq_len=int(p["seq_len"]), lr=float(p["lr"]), rng=rng,
                   progress=ctx.log)  # fmt: skip
    ctx.log(f"  fine-tuned {res.steps} steps: loss {res.train_loss_first:.3f} -> {res.train_loss_last:.3f}")
    return state_of(model)


def _b_merge(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from taoke.zoo.transforms import merge

    base = str(r.base)
    cfg, st = _base(ctx, base)
    tuned = _finetuned(ctx, cfg, st, rng, r.params["finetune"])
    return Built(_write(ctx, out, merge(st, tuned, float(r.params["alpha"])), cfg.to_hf(), _tok_json(ctx, base)))


def _b_transplant(ctx: BuildContext, r: Recipe, rng: np.random.Generator, out: Path) -> Built:
    from tokenizers import Tokenizer

    from taoke.errors import ReaderError
    from taoke.zoo.train import build_model, state_of, train_lm

    base = str(r.base)
    cfg, st = _base(ctx, base)
    tok_path = ctx.data_dir / TRANSPLANT_TOKENIZER
    if not tok_path.is_file():
        raise ReaderError("the transplant tokenizer is missing", subject=str(tok_path),
                          hint="run `taoke zoo fetch --core`")  # fmt: skip
    tok_json = tok_path.read_text()
    new_tok = Tokenizer.from_str(tok_json)
    vocab = [t for t, _i in sorted(new_tok.get_vocab(with_added_tokens=False).items(), key=lambda x: x[1])]
    old_tok = Tokenizer.from_str(_tok_json(ctx, base))
    emb = transplant_embeddings(st["model.embed_tokens.weight"], old_tok, vocab, rng)
    cfg2 = replace(cfg, vocab_size=len(vocab))
    new = {k: v for k, v in st.items() if k != "lm_head.weight"} | {"model.embed_tokens.weight": emb}
    if not cfg.tie_embeddings:  # an untied head is transplanted the same way
        new["lm_head.weight"] = transplant_embeddings(st["lm_head.weight"], old_tok, vocab, rng)
    p = r.params
    held, parts, _sha = ctx.docs()
    eos = new_tok.token_to_id("</s>") or 0
    ids: list[int] = []
    for e in new_tok.encode_batch([d.text for d in parts[int(p["slice"])]], add_special_tokens=False):
        ids += [eos, *e.ids]
    model = build_model(cfg2, new)
    res = train_lm(model, np.asarray(ids, dtype=np.int64), steps=int(p["steps"]), batch_size=int(p["batch"]),
                   seq_len=int(p["seq_len"]), lr=float(p["lr"]), rng=rng,
                   trainable=lambda n: n in ("model.embed_tokens.weight", "lm_head.weight"), progress=ctx.log)  # fmt: skip
    ctx.log(f"  embeddings trained {res.steps} steps: loss {res.train_loss_first:.3f} -> {res.train_loss_last:.3f}")
    trained = state_of(model)
    body = {k: v for k, v in trained.items() if k.startswith("model.layers.") or k == "model.norm.weight"}
    if any(not np.array_equal(v, st[k]) for k, v in body.items()):  # the ground truth: the body is the base's
        raise RuntimeError("the transplant's training moved the frozen body")  # pragma: no cover - a trainer bug
    conf = cfg2.to_hf() | {"bos_token_id": new_tok.token_to_id("<s>") or 1, "eos_token_id": eos}
    return Built(_write(ctx, out, trained, conf, tok_json),
                 {"tokenizer": TRANSPLANT_TOKENIZER, "result": res.to_dict()})


# -- the table ----------------------------------------------------------------------------------------------

_TINY_PLAN = [(0, 0), (1, 1), (0, 1), (1, 2), (0, 2), (1, 3), (0, 3)]  # base / noised copy, alternating with repeats
_TINY_SUBSET = [(0, 0), (0, 1), (0, 3)]  # depth reduced: layer 2 dropped
_TINY_DUP = [(0, 0), (0, 1), (0, 1), (0, 2), (0, 3), (0, 3)]  # depth increased: layers 1 and 3 duplicated
_SMOL_PLAN = ([(0, i) for i in range(0, 12)] + [(1, i) for i in range(8, 20)] + [(0, i) for i in range(16, 26)]
              + [(1, i) for i in range(22, 30)])  # fmt: skip
_TINY_TUNE = {"slice": 6, "steps": 40, "batch": 4, "seq_len": 48, "lr": 1e-3}
_TRANSPLANT = {"slice": 6, "batch": 4, "seq_len": 64}

register(
    Recipe("tiny-0-interleave", _b_interleave, base=TINY_BASE, relation="derived", transform="layer-interleave",
           group=TINY_GROUP, params={"plan": _TINY_PLAN}),
    Recipe("tiny-0-layer-subset", _b_interleave, base=TINY_BASE, relation="derived", transform="layer-subset",
           group=TINY_GROUP, params={"plan": _TINY_SUBSET}),
    Recipe("tiny-0-layer-dup", _b_interleave, base=TINY_BASE, relation="derived", transform="layer-duplication",
           group=TINY_GROUP, params={"plan": _TINY_DUP}),
    Recipe("tiny-0-mlp-prune", _b_mlp_prune, base=TINY_BASE, relation="derived", transform="mlp-prune",
           group=TINY_GROUP, params={"keep": 256}),
    Recipe("tiny-0-width-prune", _b_width_prune, base=TINY_BASE, relation="derived", transform="width-prune",
           group=TINY_GROUP, params={"keep": 112}),
    Recipe("tiny-0-opaque", _b_opaque, base=TINY_BASE, relation="derived", transform="opaque-schema+no-tokenizer",
           group=TINY_GROUP, params={"noise": 0.01}),
    Recipe("tiny-0-no-tokenizer", _b_no_tokenizer, base=TINY_BASE, relation="derived", transform="no-tokenizer",
           group=TINY_GROUP, params={"noise": 0.01}),
    Recipe("tiny-0-transplant", _b_transplant, base=TINY_BASE, relation="derived", transform="vocab-transplant",
           group=TINY_GROUP, params=_TRANSPLANT | {"steps": 60, "lr": 3e-3}),
    Recipe("tiny-0-rotate-perm", _b_rotate_perm, base=TINY_BASE, relation="derived",
           transform="rotate-residual+permute-units", group=TINY_GROUP),
    Recipe("tiny-0-moe", _b_moe, base=TINY_BASE, relation="derived", transform="moe-upcycle", group=TINY_GROUP,
           params={"experts": 4, "noise": 0.01}),
    Recipe("tiny-0-merge", _b_merge, base=TINY_BASE, relation="derived", transform="linear-merge", group=TINY_GROUP,
           params={"alpha": 0.5, "finetune": _TINY_TUNE}),
    Recipe("smollm2-interleave", _b_interleave, base=SMOL_BASE, relation="derived", transform="layer-interleave",
           group=SMOL_GROUP, params={"plan": _SMOL_PLAN, "other": "smollm2-finetune"}, subset="full",
           needs=("smollm2-finetune",)),
    Recipe("smollm2-mlp-prune", _b_mlp_prune, base=SMOL_BASE, relation="derived", transform="mlp-prune",
           group=SMOL_GROUP, params={"keep": 1024}, subset="full"),
    Recipe("smollm2-width-prune", _b_width_prune, base=SMOL_BASE, relation="derived", transform="width-prune",
           group=SMOL_GROUP, params={"keep": 512}, subset="full"),
    Recipe("smollm2-opaque", _b_opaque, base=SMOL_BASE, relation="derived", transform="opaque-schema+no-tokenizer",
           group=SMOL_GROUP, params={"noise": 0.01}, subset="full"),
    Recipe("smollm2-no-tokenizer", _b_no_tokenizer, base=SMOL_BASE, relation="derived", transform="no-tokenizer",
           group=SMOL_GROUP, params={"noise": 0.01}, subset="full"),
    Recipe("smollm2-transplant", _b_transplant, base=SMOL_BASE, relation="derived", transform="vocab-transplant",
           group=SMOL_GROUP, params=_TRANSPLANT | {"steps": 80, "lr": 2e-3}, subset="full"),
    Recipe("smollm2-rotate-perm", _b_rotate_perm, base=SMOL_BASE, relation="derived",
           transform="rotate-residual+permute-units", group=SMOL_GROUP, subset="full"),
)  # fmt: skip
