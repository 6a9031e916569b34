"""The results of role mapping (:class:`TensorRef`, :class:`RoleMap`) and what the three strategies share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from taoke.errors import RoleError
from taoke.io.base import ModelConfig
from taoke.roles._roles import parse_role

How = Literal["name", "graph", "shape"]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorRef:
    """Where a role's data lives and how to turn it into the canonical (out, in) float32 array.

    ``shape`` is the canonical shape of the role (after transposition and splitting). ``transposed``: stored as
    (in, out). ``row_range``: the role is rows ``[a, b)`` of the (canonical, de-interleaved) fused tensor.
    ``layout``: a storage convention to undo (``llama.cpp-rope-permuted``, ``gemma-norm-plus-one``,
    ``neox-qkv-per-head``). ``stack_index``: index along axis 0 of a stacked-experts tensor. ``ambiguous``: the
    roles this tensor could equally hold (shapes cannot tell; the assignment rests on file order).
    """

    name: str
    shape: Shape
    transposed: bool = False
    row_range: tuple[int, int] | None = None
    layout: str | None = None
    how: How = "name"
    stack_index: int | None = None
    ambiguous: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "transposed": self.transposed,
            "row_range": list(self.row_range) if self.row_range else None,
            "layout": self.layout,
            "how": self.how,
            "stack_index": self.stack_index,
            "ambiguous": list(self.ambiguous),
        }


@dataclass(frozen=True)
class RoleMap:
    """Canonical role → :class:`TensorRef`, plus the tensors no role explains.

    ``method``: ``"names"``, ``"names+graph"`` or ``"shape-fallback"``. ``family``: normalised architecture
    (``llama``, ``qwen3``, ``gemma3``, ``bert``, ...; ``unknown`` when neither declared nor recognisable).
    """

    refs: Mapping[str, TensorRef]
    unmapped: tuple[str, ...]
    family: str
    method: str
    num_layers: int
    prefix: str = ""
    notes: tuple[str, ...] = ()
    ambiguous_pairs: tuple[tuple[str, ...], ...] = field(default=())

    def __getitem__(self, role: str) -> TensorRef:
        key = str(parse_role(role))
        try:
            return self.refs[key]
        except KeyError:
            from taoke.errors import TensorNotFound

            raise TensorNotFound(
                f"role {key!r} is not in this checkpoint",
                hint=f"{len(self.refs)} roles mapped ({self.method}); see `taoke inspect --roles`",
            ) from None

    def __contains__(self, role: object) -> bool:
        if not isinstance(role, str):
            return False
        try:
            return str(parse_role(role)) in self.refs
        except RoleError:
            return False

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def get(self, role: str) -> TensorRef | None:
        return self.refs.get(role)

    def layer_roles(self, layer: int) -> dict[str, TensorRef]:
        """Roles of one layer, keyed by their local name (``attn.q``, ``mlp.experts.3.up``, ``norm.attn.bias``)."""
        p = f"layers.{layer}."
        return {k[len(p) :]: v for k, v in self.refs.items() if k.startswith(p)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "method": self.method,
            "num_layers": self.num_layers,
            "prefix": self.prefix,
            "roles": {k: v.to_dict() for k, v in self.refs.items()},
            "unmapped": list(self.unmapped),
            "notes": list(self.notes),
            "ambiguous_pairs": [list(p) for p in self.ambiguous_pairs],
        }


def heads_known(config: ModelConfig | None) -> bool:
    return bool(config and config.num_heads)


def head_dims(config: ModelConfig | None) -> tuple[int, int, int] | None:
    """(n_heads, n_kv_heads, head_dim) from a config, or None."""
    if config is None or not config.num_heads:
        return None
    nh = int(config.num_heads)
    nkv = int(config.num_kv_heads or nh)
    hd = config.head_dim or (config.hidden_size // nh if config.hidden_size else None)
    if not hd:
        return None
    return nh, nkv, int(hd)
