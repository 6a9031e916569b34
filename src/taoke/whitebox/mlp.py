"""The minimal view of a model the white-box methods need (``taoke.model.Model`` satisfies it)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class WeightView(Protocol):
    @property
    def layers(self) -> int: ...

    def has(self, role: str) -> bool: ...

    def get(self, role: str, rows: Any = None) -> np.ndarray: ...


def mlp_parts(view: WeightView, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The layer's MLP as unit-indexed row blocks, in the residual basis *after* the pre-MLP norm gain is folded in.

    Returns ``{"up": (n, d), "down": (n, d), "gate": (n, d)?}``: row ``u`` of each is hidden unit ``u``'s read
    (gate/up) or write (down, i.e. the transposed down projection) vector. In a mixture-of-experts layer the units
    of all experts are stacked (an upcycled copy then matches each unit of the dense parent to one of its copies). Folding the norm gain (``W·diag(g)``)
    makes the result invariant to a model that folded its norms into the weights (rotation attacks do).
    ``parts`` restricts what is read (e.g. ``("up",)``); None reads all three.
    """
    own = getattr(view, "unit_parts", None)  # a fingerprint serves the units it kept (taoke.index.view)
    if own is not None:
        return dict(own(layer, parts))
    out: dict[str, np.ndarray] = {}
    pre = f"layers.{layer}"
    gain = None
    if view.has(f"{pre}.norm.mlp"):
        gain = view.get(f"{pre}.norm.mlp").astype(np.float32).reshape(-1) + norm_offset(view)
    prefixes = [f"{pre}.mlp"]
    if not view.has(f"{pre}.mlp.up"):  # mixture of experts: the layer's units are all experts' units together
        prefixes = []
        while view.has(f"{pre}.mlp.experts.{len(prefixes)}.up"):
            prefixes.append(f"{pre}.mlp.experts.{len(prefixes)}")
    for part in ("up", "gate", "down"):
        if parts is not None and part not in parts:
            continue
        roles = [f"{p}.{part}" for p in prefixes]
        if not roles or not all(view.has(r) for r in roles):
            continue
        ws = [view.get(r).astype(np.float32) for r in roles]
        if part == "down":
            out[part] = np.ascontiguousarray(np.concatenate([w.T for w in ws], axis=0))
            continue
        w = np.concatenate(ws, axis=0)
        if gain is not None and gain.shape[0] == w.shape[1]:
            w = w * gain[None, :]
        out[part] = w
    return out


def has_mlp(view: WeightView, layer: int) -> bool:
    """Whether ``mlp_parts`` can give the layer's read vectors (a dense ``up`` or a first expert's)."""
    return view.has(f"layers.{layer}.mlp.up") or view.has(f"layers.{layer}.mlp.experts.0.up")


def norm_offset(view: WeightView) -> float:
    """1.0 for families whose RMSNorm multiplies by ``(1 + w)`` (Gemma, in Hugging Face convention), else 0.0."""
    cfg = getattr(view, "config", None)
    arch = (getattr(cfg, "architecture", None) or "").lower()
    return 1.0 if arch.startswith("gemma") else 0.0
