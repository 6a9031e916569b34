"""Canonical tensor roles: the one vocabulary every reader's tensor names are mapped onto.

A role is a string such as ``embed``, ``layers.3.attn.q``, ``layers.3.attn.q.bias`` or
``layers.3.mlp.experts.7.down``. It names *what a tensor does*, independent of the checkpoint's naming scheme,
so that the same model stored as GGUF, safetensors or ONNX yields the same role set.

Three scopes:

* global roles (``embed``, ``pos_embed``, ``type_embed``, ``embed_norm``, ``lm_head``, ``final_norm``);
* layer roles ``layers.{i}.<local>`` with ``<local>`` one of :data:`LAYER_ROLES`;
* expert roles ``layers.{i}.mlp.experts.{j}.{gate,up,down}``.

Any role may carry a ``.bias`` suffix (the additive bias of a linear layer, or the shift of a LayerNorm).

Conventions (the simplifications this vocabulary accepts):

* ``norm.attn`` is the norm attached to the attention block and ``norm.mlp`` the one attached to the MLP block.
  In pre-norm models (Llama, Qwen, Gemma, GPT-2) they are the input norms of the two blocks; in post-norm BERT
  they are the LayerNorms that close each block (``attention.output.LayerNorm``, ``output.LayerNorm``).
* Gemma 2/3 "sandwich" norms: ``pre_feedforward_layernorm`` *is* ``norm.mlp`` (the norm in front of the MLP,
  what llama.cpp calls ``ffn_norm``); Gemma's ``post_attention_layernorm`` and ``post_feedforward_layernorm``
  are the extra roles ``norm.post_attn`` and ``norm.post_ffn``. The spelling ``norm.pre_ffn`` is accepted by
  :func:`parse_role` as a synonym of ``norm.mlp``.
* A mixture-of-experts router is ``mlp.router``; shared experts are not given roles.
* Encoder-decoder checkpoints (T5, BART) and multimodal ones (a vision tower, a projector, a language model) are
  split into components first (:mod:`taoke.roles._components`); each component has its own role set in this
  vocabulary. A decoder layer's cross-attention is ``xattn.{q,k,v,o}`` with its norm ``norm.xattn``.

>>> str(parse_role("layers.2.attn.q.bias"))
'layers.2.attn.q.bias'
>>> parse_role("layers.2.attn.q.bias").local
'attn.q'
>>> str(parse_role("layers.0.norm.pre_ffn"))
'layers.0.norm.mlp'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from taoke.errors import RoleError


class RoleName(StrEnum):
    """The local part of every role (what the tensor does, without its layer/expert index)."""

    # global
    EMBED = "embed"
    POS_EMBED = "pos_embed"
    TYPE_EMBED = "type_embed"
    EMBED_NORM = "embed_norm"
    LM_HEAD = "lm_head"
    FINAL_NORM = "final_norm"
    # per layer
    ATTN_Q = "attn.q"
    ATTN_K = "attn.k"
    ATTN_V = "attn.v"
    ATTN_O = "attn.o"
    ATTN_Q_NORM = "attn.q_norm"
    ATTN_K_NORM = "attn.k_norm"
    MLP_GATE = "mlp.gate"
    MLP_UP = "mlp.up"
    MLP_DOWN = "mlp.down"
    MLP_ROUTER = "mlp.router"
    NORM_ATTN = "norm.attn"
    NORM_MLP = "norm.mlp"
    NORM_POST_ATTN = "norm.post_attn"
    NORM_POST_FFN = "norm.post_ffn"
    # cross-attention of an encoder-decoder's decoder layers (T5 EncDecAttention, BART encoder_attn)
    XATTN_Q = "xattn.q"
    XATTN_K = "xattn.k"
    XATTN_V = "xattn.v"
    XATTN_O = "xattn.o"
    NORM_XATTN = "norm.xattn"
    # per expert (inside layers.{i}.mlp.experts.{j}.)
    EXPERT_GATE = "gate"
    EXPERT_UP = "up"
    EXPERT_DOWN = "down"


GLOBAL_ROLES: tuple[RoleName, ...] = (
    RoleName.EMBED,
    RoleName.POS_EMBED,
    RoleName.TYPE_EMBED,
    RoleName.EMBED_NORM,
    RoleName.LM_HEAD,
    RoleName.FINAL_NORM,
)
LAYER_ROLES: tuple[RoleName, ...] = (
    RoleName.ATTN_Q,
    RoleName.ATTN_K,
    RoleName.ATTN_V,
    RoleName.ATTN_O,
    RoleName.ATTN_Q_NORM,
    RoleName.ATTN_K_NORM,
    RoleName.MLP_GATE,
    RoleName.MLP_UP,
    RoleName.MLP_DOWN,
    RoleName.MLP_ROUTER,
    RoleName.NORM_ATTN,
    RoleName.NORM_MLP,
    RoleName.NORM_POST_ATTN,
    RoleName.NORM_POST_FFN,
    RoleName.XATTN_Q,
    RoleName.XATTN_K,
    RoleName.XATTN_V,
    RoleName.XATTN_O,
    RoleName.NORM_XATTN,
)
EXPERT_ROLES: tuple[RoleName, ...] = (RoleName.EXPERT_GATE, RoleName.EXPERT_UP, RoleName.EXPERT_DOWN)

#: local roles that are normalisation gains (Gemma GGUFs store these as 1 + w)
NORM_ROLES: frozenset[RoleName] = frozenset(
    {
        RoleName.EMBED_NORM,
        RoleName.FINAL_NORM,
        RoleName.ATTN_Q_NORM,
        RoleName.ATTN_K_NORM,
        RoleName.NORM_ATTN,
        RoleName.NORM_MLP,
        RoleName.NORM_POST_ATTN,
        RoleName.NORM_POST_FFN,
        RoleName.NORM_XATTN,
    }
)

#: accepted spellings that normalise to a canonical local role
_SYNONYMS: dict[str, RoleName] = {"norm.pre_ffn": RoleName.NORM_MLP}

_GLOBAL_SET = {r.value for r in GLOBAL_ROLES}
_LAYER_SET = {r.value for r in LAYER_ROLES}
_EXPERT_SET = {r.value for r in EXPERT_ROLES}
_LAYER_RE = re.compile(r"^layers\.(\d+)\.(.+)$")
_EXPERT_RE = re.compile(r"^mlp\.experts\.(\d+)\.(\w+)$")


@dataclass(frozen=True, order=True)
class Role:
    """A parsed role. ``str(role)`` is its canonical string."""

    name: RoleName
    layer: int | None = None
    expert: int | None = None
    bias: bool = False

    @property
    def local(self) -> str:
        """The role without layer index and bias suffix (``attn.q``, ``mlp.experts.3.up``, ``embed``)."""
        if self.expert is not None:
            return f"mlp.experts.{self.expert}.{self.name.value}"
        return self.name.value

    @property
    def is_norm(self) -> bool:
        return self.name in NORM_ROLES and self.expert is None

    @property
    def weight(self) -> Role:
        """The weight role of a bias role (itself for weight roles)."""
        return Role(self.name, self.layer, self.expert, False)

    def __str__(self) -> str:
        s = self.local if self.layer is None else f"layers.{self.layer}.{self.local}"
        return s + ".bias" if self.bias else s


def parse_role(text: str) -> Role:
    """Parse a canonical role string; raise :class:`RoleError` for anything else."""
    s = text.strip()
    bias = s.endswith(".bias")
    if bias:
        s = s[: -len(".bias")]
    m = _LAYER_RE.match(s)
    if m is None:
        if s in _GLOBAL_SET:
            return Role(RoleName(s), bias=bias)
        raise RoleError(
            f"unknown role {text!r}",
            hint="global roles: " + ", ".join(sorted(_GLOBAL_SET)) + "; or layers.{i}.<role>",
        )
    layer = int(m.group(1))
    local = m.group(2)
    if local in _SYNONYMS:
        return Role(_SYNONYMS[local], layer, bias=bias)
    if local in _LAYER_SET:
        return Role(RoleName(local), layer, bias=bias)
    e = _EXPERT_RE.match(local)
    if e is not None and e.group(2) in _EXPERT_SET:
        return Role(RoleName(e.group(2)), layer, int(e.group(1)), bias)
    raise RoleError(
        f"unknown role {text!r}",
        hint="layer roles: " + ", ".join(sorted(_LAYER_SET)) + ", mlp.experts.{j}.{gate,up,down}",
    )


def layer_role(layer: int, name: RoleName) -> str:
    """The role string of a layer role, without parsing (hot paths; ``name`` is already canonical).

    >>> layer_role(4, RoleName.MLP_UP)
    'layers.4.mlp.up'
    """
    return f"layers.{layer}.{name.value}"


def expert_role(layer: int, expert: int, name: RoleName) -> str:
    """The role string of an expert's projection (``name`` one of :data:`EXPERT_ROLES`).

    >>> expert_role(2, 7, RoleName.EXPERT_DOWN)
    'layers.2.mlp.experts.7.down'
    """
    return f"layers.{layer}.mlp.experts.{expert}.{name.value}"


def role_str(local: str, layer: int | None = None, *, bias: bool = False) -> str:
    """Build a canonical role string from a local name (validated).

    >>> role_str("mlp.up", 4)
    'layers.4.mlp.up'
    """
    text = local if layer is None else f"layers.{layer}.{local}"
    return str(parse_role(text + (".bias" if bias else "")))
