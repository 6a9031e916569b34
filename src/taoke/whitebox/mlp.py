"""A layer's MLP as hidden units: the read and write vectors the unit test (:mod:`.units`) and the fingerprint's
canonical units (:mod:`taoke.index.fingerprint`) are built from, read through an
:class:`~taoke.whitebox.source.EvidenceSource`.
"""

from __future__ import annotations

import numpy as np

from taoke.roles import RoleName, expert_role, layer_role
from taoke.whitebox.source import EvidenceSource

_PARTS = {"up": RoleName.MLP_UP, "gate": RoleName.MLP_GATE, "down": RoleName.MLP_DOWN}
_EXPERT_PARTS = {"up": RoleName.EXPERT_UP, "gate": RoleName.EXPERT_GATE, "down": RoleName.EXPERT_DOWN}


def mlp_parts(view: EvidenceSource, layer: int, parts: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The layer's MLP as unit-indexed row blocks, in the residual basis *after* the pre-MLP norm gain is folded in.

    Returns ``{"up": (n, d), "down": (n, d), "gate": (n, d)?}``: row ``u`` of each is hidden unit ``u``'s read
    (gate/up) or write (down, i.e. the transposed down projection) vector. In a mixture-of-experts layer the units
    of all experts are stacked (an upcycled copy then matches each unit of the dense parent to one of its copies). Folding the norm gain (``W·diag(g)``)
    makes the result invariant to a model that folded its norms into the weights (rotation attacks do).
    ``parts`` restricts what is read (e.g. ``("up",)``); None reads all three.
    """
    own = view.unit_parts(layer, parts)  # a fingerprint serves the units it kept (taoke.index.view)
    if own is not None:
        return dict(own)
    out: dict[str, np.ndarray] = {}
    gain = None
    norm = layer_role(layer, RoleName.NORM_MLP)
    if view.has(norm):
        gain = view.get(norm).astype(np.float32).reshape(-1) + norm_offset(view)
    # mixture of experts: the layer's units are all experts' units together
    experts = 0
    if not view.has(layer_role(layer, RoleName.MLP_UP)):
        while view.has(expert_role(layer, experts, RoleName.EXPERT_UP)):
            experts += 1
    for part in ("up", "gate", "down"):
        if parts is not None and part not in parts:
            continue
        if experts:
            roles = [expert_role(layer, j, _EXPERT_PARTS[part]) for j in range(experts)]
        elif view.has(layer_role(layer, RoleName.MLP_UP)):
            roles = [layer_role(layer, _PARTS[part])]
        else:
            roles = []
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


def has_mlp(view: EvidenceSource, layer: int) -> bool:
    """Whether ``mlp_parts`` can give the layer's read vectors (a dense ``up`` or a first expert's)."""
    return view.has(layer_role(layer, RoleName.MLP_UP)) or view.has(expert_role(layer, 0, RoleName.EXPERT_UP))


def norm_offset(view: EvidenceSource) -> float:
    """1.0 for families whose RMSNorm multiplies by ``(1 + w)`` (Gemma, in Hugging Face convention), else 0.0."""
    arch = (view.config.architecture or "").lower()
    return 1.0 if arch.startswith("gemma") else 0.0
