"""Alias tables: which tensor names mean which canonical role, per model family. Immutable data only.

Modelled on gguf-py's ``tensor_mapping.py`` (a role, a tuple of name patterns with a ``{bid}`` block placeholder,
a comment naming the families that use each pattern), without its flaws: the tables here are tuples of frozen
dataclasses that nothing mutates at runtime, lookups go through :mod:`taoke.roles._mapper` by role *and* by
name, and conflicts are resolved by table order (first match wins), documented below.

Pattern syntax (compiled by the mapper):

* ``{bid}`` a layer (block) number, ``{xid}`` an expert number;
* ``[seg.]`` an optional path segment (``[model.]layers.{bid}...`` matches with and without ``model.``);
* a pattern names a module; the mapper appends ``.weight`` (→ the role) and ``.bias`` (→ ``role.bias``), and
  GGUF's identical suffixes;
* any wrapper prefix before the pattern is allowed (``inner.`` in an ONNX export, ``language_model.`` in a
  multimodal checkpoint, ``model.0.auto_model.`` in sentence-transformers); the mapper keeps only the prefix that
  matches most tensors, so a vision tower's ``layers.0.self_attn.q_proj`` does not collide with the LM's.

``stored`` gives the orientation of 2-D weights on disk: ``"out_in"`` (PyTorch ``nn.Linear``, GGUF after its
dims are reversed) or ``"in_out"`` (GPT-2's ``Conv1D``). ONNX MatMul inputs override this per tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stored = Literal["out_in", "in_out"]
Split = Literal["heads", "equal", "neox-heads"]


@dataclass(frozen=True)
class Alias:
    """Tensor names that hold one role."""

    role: str  # template: "embed", "layers.{bid}.attn.q", "layers.{bid}.mlp.experts.{xid}.gate"
    patterns: tuple[str, ...]
    families: str  # who uses these names (documentation, shown by `taoke inspect --roles`)
    stored: Stored = "out_in"
    #: the pattern holds all experts stacked along axis 0 (GGUF ``ffn_*_exps``); role has {xid}, pattern not
    stacked: bool = False
    #: apply only when some tensor name in the checkpoint contains this text (family-specific meaning)
    when_present: str | None = None


@dataclass(frozen=True)
class FusedAlias:
    """One tensor holding several roles stacked along the output axis, in the order of ``roles``.

    ``split``: ``"heads"`` q = n_heads·head_dim rows, k = v = n_kv_heads·head_dim rows (Phi-3 ``qkv_proj``,
    llama.cpp ``attn_qkv``); ``"equal"`` equal parts (GPT-2 ``c_attn``, Phi-3 ``gate_up_proj``); ``"neox-heads"``
    per-head interleaved ``(n_heads, 3, head_dim)`` rows (GPT-NeoX ``query_key_value``).
    """

    roles: tuple[str, ...]
    patterns: tuple[str, ...]
    families: str
    split: Split
    stored: Stored = "out_in"
    when_present: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Global tensors
# --------------------------------------------------------------------------------------------------------------
GLOBAL_ALIASES: tuple[Alias, ...] = (
    Alias("embed", ("[model.]embed_tokens",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma 1/2/3, Phi-3"),
    Alias("embed", ("[transformer.]wte",), "GPT-2"),
    Alias("embed", ("[gpt_neox.]embed_in",), "GPT-NeoX, Pythia"),
    Alias("embed", ("[bert.]embeddings.word_embeddings",), "BERT, MiniLM, sentence-transformers"),
    Alias("embed", ("token_embd",), "llama.cpp GGUF (every arch)"),
    Alias("pos_embed", ("[transformer.]wpe",), "GPT-2"),
    Alias("pos_embed", ("[bert.]embeddings.position_embeddings",), "BERT"),
    Alias("pos_embed", ("position_embd",), "llama.cpp GGUF (gpt2, bert)"),
    Alias("type_embed", ("[bert.]embeddings.token_type_embeddings",), "BERT"),
    Alias("type_embed", ("token_types",), "llama.cpp GGUF (bert)"),
    Alias("embed_norm", ("[bert.]embeddings.LayerNorm",), "BERT"),
    Alias("embed_norm", ("token_embd_norm",), "llama.cpp GGUF (bert, bloom)"),
    Alias("lm_head", ("lm_head",), "Llama, Mistral, Qwen, Gemma, Phi-3, GPT-2 (HF)"),
    Alias("lm_head", ("embed_out",), "GPT-NeoX"),
    Alias("lm_head", ("output",), "llama.cpp GGUF"),
    Alias("final_norm", ("[model.]norm",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma 1/2/3, Phi-3"),
    Alias("final_norm", ("[transformer.]ln_f",), "GPT-2"),
    Alias("final_norm", ("[gpt_neox.]final_layer_norm",), "GPT-NeoX"),
    Alias("final_norm", ("output_norm",), "llama.cpp GGUF"),
)

# --------------------------------------------------------------------------------------------------------------
# Per-layer tensors
# --------------------------------------------------------------------------------------------------------------
_L = "[model.]layers.{bid}."  # Hugging Face decoder layout (LlamaModel and its many copies)
_G = "blk.{bid}."  # llama.cpp
_B = "[bert.]encoder.layer.{bid}."  # BERT
_H = "[transformer.]h.{bid}."  # GPT-2
_N = "[gpt_neox.]layers.{bid}."  # GPT-NeoX

LAYER_ALIASES: tuple[Alias, ...] = (
    # ---- attention projections
    Alias("layers.{bid}.attn.q", (_L + "self_attn.q_proj",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma 1/2/3"),
    Alias("layers.{bid}.attn.k", (_L + "self_attn.k_proj",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma 1/2/3"),
    Alias("layers.{bid}.attn.v", (_L + "self_attn.v_proj",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma 1/2/3"),
    Alias(
        "layers.{bid}.attn.o", (_L + "self_attn.o_proj",), "Llama, Mistral, Mixtral, Qwen2/3, Gemma, Phi-3"
    ),
    Alias("layers.{bid}.attn.q", (_G + "attn_q",), "llama.cpp GGUF"),
    Alias("layers.{bid}.attn.k", (_G + "attn_k",), "llama.cpp GGUF"),
    Alias("layers.{bid}.attn.v", (_G + "attn_v",), "llama.cpp GGUF"),
    Alias("layers.{bid}.attn.o", (_G + "attn_output",), "llama.cpp GGUF"),
    Alias("layers.{bid}.attn.q", (_B + "attention.self.query",), "BERT"),
    Alias("layers.{bid}.attn.k", (_B + "attention.self.key",), "BERT"),
    Alias("layers.{bid}.attn.v", (_B + "attention.self.value",), "BERT"),
    Alias("layers.{bid}.attn.o", (_B + "attention.output.dense",), "BERT"),
    Alias("layers.{bid}.attn.o", (_H + "attn.c_proj",), "GPT-2 (Conv1D)", stored="in_out"),
    Alias("layers.{bid}.attn.o", (_N + "attention.dense",), "GPT-NeoX"),
    # ---- q/k norms
    Alias("layers.{bid}.attn.q_norm", (_L + "self_attn.q_norm",), "Qwen3, Gemma 3"),
    Alias("layers.{bid}.attn.k_norm", (_L + "self_attn.k_norm",), "Qwen3, Gemma 3"),
    Alias("layers.{bid}.attn.q_norm", (_G + "attn_q_norm",), "llama.cpp GGUF (qwen3, gemma3)"),
    Alias("layers.{bid}.attn.k_norm", (_G + "attn_k_norm",), "llama.cpp GGUF (qwen3, gemma3)"),
    # ---- block norms. Gemma 2/3 first: there post_attention_layernorm is a real post-attention norm
    Alias(
        "layers.{bid}.norm.post_attn",
        (_L + "post_attention_layernorm",),
        "Gemma 2/3 (sandwich norms)",
        when_present="pre_feedforward_layernorm",
    ),
    Alias("layers.{bid}.norm.mlp", (_L + "pre_feedforward_layernorm",), "Gemma 2/3"),
    Alias("layers.{bid}.norm.post_ffn", (_L + "post_feedforward_layernorm",), "Gemma 2/3"),
    Alias("layers.{bid}.norm.attn", (_L + "input_layernorm",), "Llama, Mistral, Qwen2/3, Gemma, Phi-3"),
    Alias(
        "layers.{bid}.norm.mlp", (_L + "post_attention_layernorm",), "Llama, Mistral, Qwen2/3, Gemma 1, Phi-3"
    ),
    Alias("layers.{bid}.norm.attn", (_L + "ln1",), "Yi-34B (first release renamed Llama's input_layernorm)"),
    Alias("layers.{bid}.norm.mlp", (_L + "ln2",), "Yi-34B (first release renamed post_attention_layernorm)"),
    Alias("layers.{bid}.norm.attn", (_G + "attn_norm",), "llama.cpp GGUF"),
    Alias("layers.{bid}.norm.mlp", (_G + "ffn_norm",), "llama.cpp GGUF"),
    Alias("layers.{bid}.norm.post_attn", (_G + "post_attention_norm",), "llama.cpp GGUF (gemma2, gemma3)"),
    Alias("layers.{bid}.norm.post_ffn", (_G + "post_ffw_norm",), "llama.cpp GGUF (gemma2, gemma3)"),
    Alias("layers.{bid}.norm.attn", (_G + "attn_output_norm",), "llama.cpp GGUF (bert: post-norm)"),
    Alias("layers.{bid}.norm.mlp", (_G + "layer_output_norm",), "llama.cpp GGUF (bert: post-norm)"),
    Alias("layers.{bid}.norm.attn", (_B + "attention.output.LayerNorm",), "BERT (post-norm)"),
    Alias("layers.{bid}.norm.mlp", (_B + "output.LayerNorm",), "BERT (post-norm)"),
    Alias("layers.{bid}.norm.attn", (_H + "ln_1",), "GPT-2"),
    Alias("layers.{bid}.norm.mlp", (_H + "ln_2",), "GPT-2"),
    Alias("layers.{bid}.norm.attn", (_N + "input_layernorm",), "GPT-NeoX"),
    Alias("layers.{bid}.norm.mlp", (_N + "post_attention_layernorm",), "GPT-NeoX"),
    # ---- MLP
    Alias("layers.{bid}.mlp.gate", (_L + "mlp.gate_proj",), "Llama, Mistral, Qwen2/3, Gemma 1/2/3"),
    Alias("layers.{bid}.mlp.up", (_L + "mlp.up_proj",), "Llama, Mistral, Qwen2/3, Gemma 1/2/3"),
    Alias("layers.{bid}.mlp.down", (_L + "mlp.down_proj",), "Llama, Mistral, Qwen2/3, Gemma 1/2/3, Phi-3"),
    Alias("layers.{bid}.mlp.gate", (_G + "ffn_gate",), "llama.cpp GGUF"),
    Alias("layers.{bid}.mlp.up", (_G + "ffn_up",), "llama.cpp GGUF"),
    Alias("layers.{bid}.mlp.down", (_G + "ffn_down",), "llama.cpp GGUF"),
    Alias("layers.{bid}.mlp.up", (_B + "intermediate.dense",), "BERT"),
    Alias("layers.{bid}.mlp.down", (_B + "output.dense",), "BERT"),
    Alias("layers.{bid}.mlp.up", (_H + "mlp.c_fc",), "GPT-2 (Conv1D)", stored="in_out"),
    Alias("layers.{bid}.mlp.down", (_H + "mlp.c_proj",), "GPT-2 (Conv1D)", stored="in_out"),
    Alias("layers.{bid}.mlp.up", (_N + "mlp.dense_h_to_4h",), "GPT-NeoX"),
    Alias("layers.{bid}.mlp.down", (_N + "mlp.dense_4h_to_h",), "GPT-NeoX"),
    # ---- mixture of experts
    Alias("layers.{bid}.mlp.router", (_L + "block_sparse_moe.gate",), "Mixtral"),
    Alias("layers.{bid}.mlp.router", (_L + "mlp.gate",), "Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3"),
    Alias("layers.{bid}.mlp.router", (_G + "ffn_gate_inp",), "llama.cpp GGUF (MoE)"),
)

EXPERT_ALIASES: tuple[Alias, ...] = (
    Alias("layers.{bid}.mlp.experts.{xid}.gate", (_L + "block_sparse_moe.experts.{xid}.w1",), "Mixtral"),
    Alias("layers.{bid}.mlp.experts.{xid}.down", (_L + "block_sparse_moe.experts.{xid}.w2",), "Mixtral"),
    Alias("layers.{bid}.mlp.experts.{xid}.up", (_L + "block_sparse_moe.experts.{xid}.w3",), "Mixtral"),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.gate", (_L + "mlp.experts.{xid}.gate_proj",), "Qwen2/3-MoE, DeepSeek"
    ),
    Alias("layers.{bid}.mlp.experts.{xid}.up", (_L + "mlp.experts.{xid}.up_proj",), "Qwen2/3-MoE, DeepSeek"),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.down", (_L + "mlp.experts.{xid}.down_proj",), "Qwen2/3-MoE, DeepSeek"
    ),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.gate", (_G + "ffn_gate.{xid}",), "llama.cpp GGUF (old Mixtral files)"
    ),
    Alias("layers.{bid}.mlp.experts.{xid}.up", (_G + "ffn_up.{xid}",), "llama.cpp GGUF (old Mixtral files)"),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.down", (_G + "ffn_down.{xid}",), "llama.cpp GGUF (old Mixtral files)"
    ),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.gate", (_G + "ffn_gate_exps",), "llama.cpp GGUF (MoE)", stacked=True
    ),
    Alias("layers.{bid}.mlp.experts.{xid}.up", (_G + "ffn_up_exps",), "llama.cpp GGUF (MoE)", stacked=True),
    Alias(
        "layers.{bid}.mlp.experts.{xid}.down", (_G + "ffn_down_exps",), "llama.cpp GGUF (MoE)", stacked=True
    ),
)

FUSED_ALIASES: tuple[FusedAlias, ...] = (
    FusedAlias(
        ("layers.{bid}.attn.q", "layers.{bid}.attn.k", "layers.{bid}.attn.v"),
        (_L + "self_attn.qkv_proj",),
        "Phi-3",
        "heads",
    ),
    FusedAlias(
        ("layers.{bid}.attn.q", "layers.{bid}.attn.k", "layers.{bid}.attn.v"),
        (_G + "attn_qkv",),
        "llama.cpp GGUF (phi3, gpt2, bloom, ...)",
        "heads",
    ),
    FusedAlias(
        ("layers.{bid}.attn.q", "layers.{bid}.attn.k", "layers.{bid}.attn.v"),
        (_H + "attn.c_attn",),
        "GPT-2 (Conv1D)",
        "equal",
        stored="in_out",
    ),
    FusedAlias(
        ("layers.{bid}.attn.q", "layers.{bid}.attn.k", "layers.{bid}.attn.v"),
        (_N + "attention.query_key_value",),
        "GPT-NeoX, Pythia",
        "neox-heads",
    ),
    FusedAlias(
        ("layers.{bid}.mlp.gate", "layers.{bid}.mlp.up"),
        (_L + "mlp.gate_up_proj",),
        "Phi-3",
        "equal",
    ),
)

# vision towers and encoder-decoder stacks (their own module; it imports Alias/FusedAlias defined above)
from taoke.roles._aliases_multimodal import MULTIMODAL_ALIASES  # noqa: E402

ALL_ALIASES: tuple[Alias | FusedAlias, ...] = (
    *GLOBAL_ALIASES,
    *FUSED_ALIASES,
    *EXPERT_ALIASES,
    *LAYER_ALIASES,
    *MULTIMODAL_ALIASES,
)

# --------------------------------------------------------------------------------------------------------------
# Layouts: stored data that differs from the Hugging Face convention (undone by taoke.model.Model.get)
# --------------------------------------------------------------------------------------------------------------
#: Model.get undoes these; which GGUF architectures carry them is read from the GGUF reader
#: (``GGUFCheckpoint.layout_notes`` / ``taoke.io.gguf.LAYOUT_FACTS``), the single source of that fact.
LAYOUT_ROPE_PERMUTED = "llama.cpp-rope-permuted"
LAYOUT_NORM_PLUS_ONE = "gemma-norm-plus-one"
#: a fused QKV whose rows are interleaved per head, (n_heads, 3, head_dim) instead of (3, n_heads, head_dim)
LAYOUT_NEOX_QKV = "neox-qkv-per-head"

# --------------------------------------------------------------------------------------------------------------
# Families: declared architecture names (config.json model_type / architectures, GGUF general.architecture)
# mapped to one family string; and name cues used when nothing is declared.
# --------------------------------------------------------------------------------------------------------------
ARCH_FAMILIES: tuple[tuple[str, str], ...] = (
    # (substring of the lower-cased declared architecture, family) — first match wins
    ("mixtral", "mixtral"),
    ("qwen3moe", "qwen3-moe"),
    ("qwen3_moe", "qwen3-moe"),
    ("qwen2moe", "qwen2-moe"),
    ("qwen2_moe", "qwen2-moe"),
    ("qwen3", "qwen3"),
    ("qwen2", "qwen2"),
    ("gemma3", "gemma3"),
    ("gemma2", "gemma2"),
    ("gemma", "gemma"),
    ("phi3", "phi3"),
    ("phi-3", "phi3"),
    ("mistral", "mistral"),
    ("llama", "llama"),
    ("gpt_neox", "gpt-neox"),
    ("gptneox", "gpt-neox"),
    ("gpt-neox", "gpt-neox"),
    ("gpt2", "gpt2"),
    ("bert", "bert"),
)

NAME_CUES: tuple[tuple[str, str], ...] = (
    # (substring of some tensor name, family) — first match wins, used only without a declared architecture
    ("block_sparse_moe", "mixtral"),
    ("pre_feedforward_layernorm", "gemma3"),
    ("post_ffw_norm", "gemma3"),
    ("self_attn.qkv_proj", "phi3"),
    ("self_attn.q_norm", "qwen3"),
    ("attn_q_norm", "qwen3"),
    ("query_key_value", "gpt-neox"),
    ("attn.c_attn", "gpt2"),
    ("attention.self.query", "bert"),
    ("embeddings.word_embeddings", "bert"),
    ("self_attn.q_proj", "llama"),
    ("blk.", "llama"),
)
