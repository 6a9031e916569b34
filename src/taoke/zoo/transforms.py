"""The transformations the zoo applies to real weights: pure numpy functions on Hugging Face-named state dicts.

Every function takes a state dict (``{name: float32 array}`` in PyTorch ``(out, in)`` order) and, for Llama
models, its :class:`~taoke.zoo.train.LlamaConfig`; it returns new arrays (inputs are never modified) and, where the
architecture changes, a new config. Randomness comes only from the ``numpy.random.Generator`` passed in.

Function-preserving transformations (outputs equal up to float32 rounding; checked by the tests on real text):

* :func:`permute_llama` — permute each layer's MLP hidden units (rows of gate/up, columns of down) and its
  attention heads (rows of q/k/v, columns of o) respecting grouped-query attention: the KV groups are permuted
  and the query heads within each group. Dimensions inside a head are left alone (rotary embeddings pair them).
* :func:`rotate_llama` — rotate the residual stream by a random orthogonal ``Q`` after folding every RMSNorm gain
  into the weights that read the normalised stream, as SliceGPT (arXiv:2401.15024) and QuaRot (arXiv:2404.00456)
  do: ``W ← W·diag(g)·Q`` for q/k/v/gate/up/lm_head, ``W ← Qᵀ·W`` for o/down, ``E ← E·Q``; the norms become all
  ones and the LM head is untied from the embedding.
* :func:`rescale_llama` — per-layer scalars that cancel: q·a with k/a (attention logits unchanged), v·b with o/b,
  up·c with down/c (SwiGLU is linear in ``up``), norm gain·s with its readers/s.
* :func:`permute_bert` — the same unit/head permutation for a BERT encoder (biases included).

Not function-preserving, by design: :func:`add_noise` (Gaussian, σ = scale × each tensor's std),
:func:`remap_layers` (layer subset / duplication), :func:`prune_vocab`, :func:`extend_vocab`, :func:`merge`,
:func:`upcycle_moe` (dense MLP → experts, Komatsuzaki et al., arXiv:2212.05055), :func:`std_matched` (random
tensors with each tensor's mean and std: same per-tensor statistics, independent weights), and the re-packaging
:func:`rename_opaque` / :func:`transpose_2d`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from taoke.errors import UsageError
from taoke.zoo.train import LlamaConfig

State = dict[str, np.ndarray]


def _p(i: int) -> str:
    return f"model.layers.{i}."


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random ``d×d`` orthogonal matrix (QR of a Gaussian with the sign of ``diag(R)`` fixed), float64."""
    a = rng.standard_normal((d, d))
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))[None, :]


def _is_float(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating)


# -- re-packaging -------------------------------------------------------------------------------------------


def rename_opaque(state: Mapping[str, np.ndarray], rng: np.random.Generator) -> tuple[State, dict[str, str]]:
    """Rename every tensor to a meaningless name that sorts in the original order; returns (state, old→new)."""
    mapping = {}
    for k, name in enumerate(state):
        mapping[name] = f"t{k:04d}_{int(rng.integers(0, 16**6)):06x}"
    return {mapping[n]: a for n, a in state.items()}, mapping


def transpose_2d(state: Mapping[str, np.ndarray]) -> State:
    """Every 2-D tensor stored transposed (1-D tensors unchanged)."""
    return {n: (np.ascontiguousarray(a.T) if a.ndim == 2 else a) for n, a in state.items()}


# -- noise and statistics -----------------------------------------------------------------------------------


def add_noise(state: Mapping[str, np.ndarray], scale: float, rng: np.random.Generator) -> State:
    """``W + scale·std(W)·N(0, 1)`` for every float tensor (non-float tensors copied)."""
    if not scale > 0:
        raise UsageError(f"noise scale must be > 0, got {scale}")
    out: State = {}
    for n, a in state.items():
        if not _is_float(a):
            out[n] = a
            continue
        sd = float(a.std())
        out[n] = (a + (scale * sd) * rng.standard_normal(a.shape, dtype=np.float32)).astype(np.float32)
    return out


def std_matched(state: Mapping[str, np.ndarray], rng: np.random.Generator) -> State:
    """Independent Gaussian tensors with each float tensor's mean and std (non-float tensors copied)."""
    out: State = {}
    for n, a in state.items():
        if not _is_float(a):
            out[n] = a
            continue
        z = rng.standard_normal(a.shape, dtype=np.float32)
        z = (z - z.mean()) / (z.std() or 1.0)  # exact moments, not just in expectation
        out[n] = (float(a.mean()) + float(a.std()) * z).astype(np.float32)
    return out


def merge(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], alpha: float = 0.5) -> State:
    """Linear merge ``alpha·a + (1-alpha)·b`` of two state dicts with the same names and shapes."""
    if set(a) != set(b):
        raise UsageError("cannot merge state dicts with different tensor names")
    out: State = {}
    for n in a:
        if a[n].shape != b[n].shape:
            raise UsageError(f"cannot merge {n}: shapes {a[n].shape} and {b[n].shape}")
        out[n] = (alpha * a[n] + (1.0 - alpha) * b[n]).astype(np.float32)
    return out


# -- Llama: function-preserving -------------------------------------------------------------------------------


def head_permutation(cfg: LlamaConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(query-head order, kv-head order): KV groups permuted, and query heads permuted within each group.

    New query head ``j*rep + r`` is old head ``kv[j]*rep + within[j][r]``, so it still reads its own KV head.
    """
    rep = cfg.num_heads // cfg.num_kv_heads
    kv = rng.permutation(cfg.num_kv_heads)
    q = np.concatenate([kv[j] * rep + rng.permutation(rep) for j in range(cfg.num_kv_heads)])
    return q, kv


def _head_rows(order: np.ndarray, head_dim: int) -> np.ndarray:
    return (order[:, None] * head_dim + np.arange(head_dim)[None, :]).reshape(-1)


def permute_llama(
    cfg: LlamaConfig, state: Mapping[str, np.ndarray], rng: np.random.Generator
) -> tuple[State, dict[str, list[list[int]]]]:
    """Permute MLP units and attention heads in every layer (function-preserving).

    Returns the new state and the permutations used: ``{"mlp": [per layer order], "q_heads": [...],
    "kv_heads": [...]}`` where ``order[new] = old``.
    """
    out = dict(state)
    record: dict[str, list[list[int]]] = {"mlp": [], "q_heads": [], "kv_heads": []}
    hd = cfg.head_dim
    for i in range(cfg.num_layers):
        p = _p(i)
        pi = rng.permutation(cfg.intermediate_size)
        out[p + "mlp.gate_proj.weight"] = state[p + "mlp.gate_proj.weight"][pi]
        out[p + "mlp.up_proj.weight"] = state[p + "mlp.up_proj.weight"][pi]
        out[p + "mlp.down_proj.weight"] = np.ascontiguousarray(state[p + "mlp.down_proj.weight"][:, pi])
        qo, kvo = head_permutation(cfg, rng)
        qr, kr = _head_rows(qo, hd), _head_rows(kvo, hd)
        out[p + "self_attn.q_proj.weight"] = state[p + "self_attn.q_proj.weight"][qr]
        out[p + "self_attn.k_proj.weight"] = state[p + "self_attn.k_proj.weight"][kr]
        out[p + "self_attn.v_proj.weight"] = state[p + "self_attn.v_proj.weight"][kr]
        out[p + "self_attn.o_proj.weight"] = np.ascontiguousarray(state[p + "self_attn.o_proj.weight"][:, qr])
        record["mlp"].append(pi.tolist())
        record["q_heads"].append(qo.tolist())
        record["kv_heads"].append(kvo.tolist())
    return out, record


def rotate_llama(
    cfg: LlamaConfig,
    state: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    *,
    dtype: type[np.floating] = np.float64,
) -> tuple[LlamaConfig, State, np.ndarray]:
    """Fold RMSNorm gains into the next weights and rotate the residual stream by a random orthogonal ``Q``.

    Returns (config with untied embeddings, new state, ``Q`` as float64). The hidden state of the new model is
    ``h @ Q`` where ``h`` is the old one. ``dtype``: precision of the products (float64, the zoo's; float32 is
    ~2x faster and exact to float32 rounding, used by :mod:`taoke.zoo.shell`).
    """
    d = cfg.hidden_size
    Q = random_orthogonal(d, rng)
    Qd = Q.astype(dtype)
    out: State = {}

    def fold_in(w: np.ndarray, g: np.ndarray) -> np.ndarray:
        return ((w.astype(dtype) * g.astype(dtype)[None, :]) @ Qd).astype(np.float32)

    def rot_out(w: np.ndarray) -> np.ndarray:
        return (Qd.T @ w.astype(dtype)).astype(np.float32)

    emb = state["model.embed_tokens.weight"]
    head = state.get("lm_head.weight", emb)
    out["model.embed_tokens.weight"] = (emb.astype(dtype) @ Qd).astype(np.float32)
    ones = np.ones(d, dtype=np.float32)
    for i in range(cfg.num_layers):
        p = _p(i)
        g1 = state[p + "input_layernorm.weight"]
        g2 = state[p + "post_attention_layernorm.weight"]
        out[p + "input_layernorm.weight"] = ones.copy()
        for n in ("q_proj", "k_proj", "v_proj"):
            out[p + f"self_attn.{n}.weight"] = fold_in(state[p + f"self_attn.{n}.weight"], g1)
        out[p + "self_attn.o_proj.weight"] = rot_out(state[p + "self_attn.o_proj.weight"])
        out[p + "post_attention_layernorm.weight"] = ones.copy()
        for n in ("gate_proj", "up_proj"):
            out[p + f"mlp.{n}.weight"] = fold_in(state[p + f"mlp.{n}.weight"], g2)
        out[p + "mlp.down_proj.weight"] = rot_out(state[p + "mlp.down_proj.weight"])
    out["model.norm.weight"] = ones.copy()
    out["lm_head.weight"] = fold_in(head, state["model.norm.weight"])
    return replace(cfg, tie_embeddings=False), out, Q


def rescale_llama(
    cfg: LlamaConfig, state: Mapping[str, np.ndarray], rng: np.random.Generator, *, spread: float = 2.0
) -> tuple[State, dict[str, list[float]]]:
    """Per-layer scalars (log-uniform in [1/spread, spread]) that cancel exactly; returns (state, factors)."""
    out = dict(state)
    lo, hi = -np.log(spread), np.log(spread)
    rec: dict[str, list[float]] = {k: [] for k in ("qk", "vo", "updown", "norm1", "norm2")}
    for i in range(cfg.num_layers):
        p = _p(i)
        a, b, c, s, t = (float(np.exp(rng.uniform(lo, hi))) for _ in range(5))
        out[p + "input_layernorm.weight"] = state[p + "input_layernorm.weight"] * np.float32(s)
        out[p + "self_attn.q_proj.weight"] = state[p + "self_attn.q_proj.weight"] * np.float32(a / s)
        out[p + "self_attn.k_proj.weight"] = state[p + "self_attn.k_proj.weight"] * np.float32(1.0 / (a * s))
        out[p + "self_attn.v_proj.weight"] = state[p + "self_attn.v_proj.weight"] * np.float32(b / s)
        out[p + "self_attn.o_proj.weight"] = state[p + "self_attn.o_proj.weight"] * np.float32(1.0 / b)
        out[p + "post_attention_layernorm.weight"] = state[
            p + "post_attention_layernorm.weight"
        ] * np.float32(t)
        out[p + "mlp.gate_proj.weight"] = state[p + "mlp.gate_proj.weight"] * np.float32(1.0 / t)
        out[p + "mlp.up_proj.weight"] = state[p + "mlp.up_proj.weight"] * np.float32(c / t)
        out[p + "mlp.down_proj.weight"] = state[p + "mlp.down_proj.weight"] * np.float32(1.0 / c)
        for k, v in zip(("qk", "vo", "updown", "norm1", "norm2"), (a, b, c, s, t), strict=True):
            rec[k].append(round(v, 6))
    return out, rec


# -- Llama: structure changes -------------------------------------------------------------------------------


def remap_layers(
    cfg: LlamaConfig, state: Mapping[str, np.ndarray], layer_map: Sequence[int]
) -> tuple[LlamaConfig, State]:
    """New layer ``j`` is a copy of old layer ``layer_map[j]`` (drops and duplications)."""
    if not layer_map or any(not 0 <= k < cfg.num_layers for k in layer_map):
        raise UsageError(f"layer_map must name layers 0..{cfg.num_layers - 1}")
    out: State = {"model.embed_tokens.weight": state["model.embed_tokens.weight"]}
    for j, k in enumerate(layer_map):
        src, dst = _p(k), _p(j)
        for n, a in state.items():
            if n.startswith(src):
                out[dst + n[len(src) :]] = a.copy() if layer_map.count(k) > 1 else a
    for n in ("model.norm.weight", "lm_head.weight"):
        if n in state:
            out[n] = state[n]
    return replace(cfg, num_layers=len(layer_map)), out


def prune_vocab(
    cfg: LlamaConfig, state: Mapping[str, np.ndarray], keep_ids: Sequence[int] | np.ndarray
) -> tuple[LlamaConfig, State]:
    """Keep only the token rows ``keep_ids`` (in that order) of the embedding (and LM head)."""
    ids = np.asarray(keep_ids, dtype=np.int64)
    if ids.size == 0 or ids.min() < 0 or ids.max() >= cfg.vocab_size or len(np.unique(ids)) != len(ids):
        raise UsageError("keep_ids must be distinct token ids inside the vocabulary")
    out = dict(state)
    out["model.embed_tokens.weight"] = state["model.embed_tokens.weight"][ids]
    if "lm_head.weight" in state:
        out["lm_head.weight"] = state["lm_head.weight"][ids]
    return replace(cfg, vocab_size=int(ids.size)), out


def extend_vocab(cfg: LlamaConfig, state: Mapping[str, np.ndarray], n_new: int) -> tuple[LlamaConfig, State]:
    """Append ``n_new`` token rows initialised to the mean of the existing rows (embedding and LM head)."""
    if n_new < 1:
        raise UsageError(f"n_new must be >= 1, got {n_new}")
    out = dict(state)
    for n in ("model.embed_tokens.weight", "lm_head.weight"):
        if n in state:
            w = state[n]
            out[n] = np.concatenate([w, np.repeat(w.mean(axis=0, keepdims=True), n_new, axis=0)]).astype(
                np.float32
            )
    return replace(cfg, vocab_size=cfg.vocab_size + n_new), out


def upcycle_moe(
    cfg: LlamaConfig,
    state: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    *,
    n_experts: int = 4,
    noise: float = 0.01,
) -> State:
    """Dense MLP → ``n_experts`` Mixtral-named experts (copies + ``noise``·std Gaussian) and a random router.

    Names: ``model.layers.{i}.block_sparse_moe.experts.{e}.w1/w2/w3.weight`` (gate/down/up) and
    ``model.layers.{i}.block_sparse_moe.gate.weight`` (router, ``n_experts × d``, N(0, 0.02)).
    """
    out: State = {}
    for n, a in state.items():
        parts = n.split(".")
        if len(parts) > 4 and parts[3] == "mlp":
            continue
        out[n] = a
    for i in range(cfg.num_layers):
        p = _p(i)
        for e in range(n_experts):
            for w, src in (("w1", "gate_proj"), ("w2", "down_proj"), ("w3", "up_proj")):
                base = state[p + f"mlp.{src}.weight"]
                sd = float(base.std()) * noise
                out[p + f"block_sparse_moe.experts.{e}.{w}.weight"] = (
                    base + sd * rng.standard_normal(base.shape, dtype=np.float32)
                ).astype(np.float32)
        out[p + "block_sparse_moe.gate.weight"] = (
            0.02 * rng.standard_normal((n_experts, cfg.hidden_size))
        ).astype(np.float32)
    return out


def mixtral_config(cfg: LlamaConfig, n_experts: int, top_k: int = 2) -> dict[str, object]:
    d = cfg.to_hf()
    d.update(
        architectures=["MixtralForCausalLM"],
        model_type="mixtral",
        num_local_experts=n_experts,
        num_experts_per_tok=top_k,
    )
    return d


# -- BERT ---------------------------------------------------------------------------------------------------


def permute_bert(
    state: Mapping[str, np.ndarray], *, num_layers: int, num_heads: int, rng: np.random.Generator
) -> tuple[State, dict[str, list[list[int]]]]:
    """Permute each BERT layer's FFN units and attention heads (function-preserving, biases included)."""
    out = dict(state)
    rec: dict[str, list[list[int]]] = {"ffn": [], "heads": []}
    for i in range(num_layers):
        p = f"encoder.layer.{i}."
        w_in = state[p + "intermediate.dense.weight"]
        pi = rng.permutation(w_in.shape[0])
        out[p + "intermediate.dense.weight"] = w_in[pi]
        out[p + "intermediate.dense.bias"] = state[p + "intermediate.dense.bias"][pi]
        out[p + "output.dense.weight"] = np.ascontiguousarray(state[p + "output.dense.weight"][:, pi])
        d = state[p + "attention.self.query.weight"].shape[0]
        ho = rng.permutation(num_heads)
        rows = _head_rows(ho, d // num_heads)
        for n in ("query", "key", "value"):
            out[p + f"attention.self.{n}.weight"] = state[p + f"attention.self.{n}.weight"][rows]
            out[p + f"attention.self.{n}.bias"] = state[p + f"attention.self.{n}.bias"][rows]
        out[p + "attention.output.dense.weight"] = np.ascontiguousarray(
            state[p + "attention.output.dense.weight"][:, rows]
        )
        rec["ffn"].append(pi.tolist())
        rec["heads"].append(ho.tolist())
    return out, rec
